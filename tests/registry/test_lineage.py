"""The family tree of a registry: base -> fine-tune -> quantised copy, nothing to the unrelated models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_lineage.registry import Registry
from llm_lineage.registry.lineage import lineage_graph
from llm_lineage.stats import Verdict, holm

CLI = str(Path(sys.executable).with_name("llm-lineage"))
METHODS = ["tracing", "awm"]


@pytest.fixture(scope="module")
def family(victim, unrelated_llama, tmp_path_factory) -> Path:
    """A registry of the zoo victim, its fine-tune, an 8-bit copy of the fine-tune, and five
    unrelated llamas of the same recipe (other seeds)."""
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    root = zoo.cache_dir().parent / "lineage-tests"
    tuned = derive(victim, "finetune", root / "tuned", steps=30, lr=1e-4)
    copy = derive(tuned, "quantize", root / "tuned-q8", bits=8)
    path = tmp_path_factory.mktemp("lineage") / "r.sqlite"
    with Registry(path, create=True) as reg:
        for name, model in (("base", victim), ("tuned", tuned), ("tuned-q8", copy), ("other", unrelated_llama),
                            *((f"seed{s}", m) for s, m in zip((101, 102, 103, 104),
                                                              zoo.null_models("llama", train_steps=300), strict=True))):
            reg.add(model, name=name, methods=METHODS)
    return path


def test_chain_base_tuned_quantised_and_no_edge_to_unrelated(family):
    with Registry(family) as reg:
        graph = lineage_graph(reg, alpha=0.01)
    drawn = {(e.source, e.target): e for e in graph.drawn}
    assert ("base", "tuned") in drawn and ("tuned", "tuned-q8") in drawn, drawn
    assert graph.parents == {"tuned": "base", "tuned-q8": "tuned"}
    for e in graph.drawn:
        assert {e.source, e.target} <= {"base", "tuned", "tuned-q8"}
        assert e.adjusted_p < 0.01 and e.verdict is Verdict.DERIVED
    quantised = drawn[("tuned", "tuned-q8")]
    assert quantised.directed and "grid" in quantised.direction_evidence and "8 bits" in quantised.derivation
    assert "metadata" in drawn[("base", "tuned")].direction_evidence  # the attack manifest names its victim
    assert ("base", "tuned", "tuned-q8") in graph.families
    assert sum(len(f) == 1 for f in graph.families) == 5  # every unrelated model alone
    # fewer pairs than all of them: each entry's candidates only
    assert graph.pairs_tested < 8 * 7 // 2


def test_picture_graphml_and_json(family, tmp_path):
    from PIL import Image

    png, graphml = tmp_path / "tree.png", tmp_path / "tree.graphml"
    done = subprocess.run([CLI, "registry", "graph", "--registry", str(family), "-o", str(png),
                           "--graphml", str(graphml), "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    edges = {(e["source"], e["target"]): e for e in report["edges"]}
    assert edges[("tuned", "tuned-q8")]["directed"] and edges[("tuned", "tuned-q8")]["adjusted_p"] < 0.01
    assert report["parents"] == {"tuned": "base", "tuned-q8": "tuned"} and "Holm" in report["correction"]
    with Image.open(png) as image:
        assert image.size[0] >= 600 and image.size[1] >= 350
        assert len(set(image.convert("L").getdata())) > 10  # drawn on, not blank
    import networkx as nx

    loaded = nx.read_graphml(graphml)
    assert loaded.has_edge("base", "tuned") and loaded.number_of_nodes() == 8


def test_holm_is_the_step_down_bonferroni():
    assert holm([0.001, 0.2, 0.01]) == pytest.approx([0.003, 0.2, 0.02])
    assert holm([]) == []


def test_search_graph_says_where_a_suspect_attaches(family, victim, tmp_path):
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    suspect = derive(zoo.cache_dir().parent / "lineage-tests" / "tuned", "prune", tmp_path / "pruned", sparsity=0.2)
    done = subprocess.run([CLI, "search", str(suspect), "--registry", str(family), "--graph", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    where = json.loads(done.stdout)["attachment"]
    # a pruned copy of the fine-tune hangs under the fine-tune (or its quantised twin), whose line leads to base
    assert where["parent"] in ("tuned", "tuned-q8") and "base" in where["ancestors"] + [where["parent"]]
    assert sorted(where["family"]) == ["base", "tuned", "tuned-q8"]
