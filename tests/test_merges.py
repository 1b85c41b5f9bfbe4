"""``merge-parents``: which candidates a merge was made from, the mixing weights, and which block
came from whom, on merges of real zoo fine-tunes built with ``attack``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from llm_lineage.stats import Verdict


@pytest.fixture(scope="module")
def fine_tunes(victim, tmp_path_factory):
    from llm_lineage.attacks import derive

    folder = tmp_path_factory.mktemp("fine-tunes")
    return (derive(victim, "finetune", folder / "ft1", steps=20, seed=1),
            derive(victim, "finetune", folder / "ft2", steps=20, seed=2))


@pytest.mark.slow
@pytest.mark.parametrize("kind, options, truth", [("merge-linear", {"weights": "0.7,0.3"}, (0.7, 0.3)),
                                                  ("merge-slerp", {"t": 0.4}, (0.6, 0.4))])
def test_the_parents_and_their_mixing_weights_are_recovered(victim, fine_tunes, tmp_path, kind, options, truth):
    from llm_lineage.attacks import derive
    from llm_lineage.merges import merge_parents

    first, second = fine_tunes
    merged = derive(first, kind, tmp_path / kind, others=str(second), **options)
    result = merge_parents(merged, [first, second, victim])
    assert [p.verdict for p in result.parents] == [Verdict.DERIVED] * 3
    weights = [w.weight for w in result.weights]
    assert abs(weights[0] - truth[0]) < 0.05 and abs(weights[1] - truth[1]) < 0.05
    assert abs(weights[2]) < 0.05  # the fine-tunes' base: related, with no share of its own
    assert result.identifiable and "related, with no share of its own" in result.explanation
    assert all(b.source is None for b in result.blocks)  # every block is mixed, none copied


@pytest.mark.slow
def test_a_passthrough_merge_names_the_donor_of_each_block(victim, unrelated_llama, tmp_path):
    from llm_lineage.attacks import derive

    merged = derive(victim, "merge-passthrough", tmp_path / "pass", others=str(unrelated_llama), split=1)
    proc = subprocess.run([sys.executable, "-m", "llm_lineage.cli", "merge-parents", str(merged), str(victim),
                           str(unrelated_llama), "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [b["source"] for b in result["blocks"]] == [f"{victim.name} block 0", f"{unrelated_llama.name} block 1"]
    assert "a passthrough merge" in result["explanation"]


def test_near_identical_candidates_are_said_to_be_unidentifiable(victim, tmp_path):
    from llm_lineage.merges import merge_parents

    twin = shutil.copytree(victim, tmp_path / "twin")
    result = merge_parents(victim, [victim, twin])
    assert not result.identifiable and "cannot be told apart" in result.identifiability
    assert "not identifiable" in result.explanation


@pytest.mark.slow
def test_the_family_tree_draws_a_merge_with_both_parents(victim, fine_tunes, tmp_path):
    import networkx as nx

    from llm_lineage.attacks import derive
    from llm_lineage.registry import Registry
    from llm_lineage.registry.lineage import lineage_graph, plot, write_graphml

    first, second = fine_tunes
    merged = derive(first, "merge-linear", tmp_path / "merge", others=str(second), weights="0.7,0.3")
    with Registry(tmp_path / "reg.sqlite", create=True) as reg:
        for model, name in ((victim, "victim"), (first, "ft1"), (second, "ft2"), (merged, "merge")):
            reg.add(model, name=name, methods=["tracing"])
        graph = lineage_graph(reg)
    assert set(graph.merges) == {"merge"}
    shares = graph.merges["merge"]
    assert set(shares) == {"ft1", "ft2"} and abs(shares["ft1"] - 0.7) < 0.05 and abs(shares["ft2"] - 0.3) < 0.05
    assert graph.parents["merge"] == "ft1"
    written = nx.read_graphml(write_graphml(graph, tmp_path / "tree.graphml"))
    assert {p for p, _ in written.in_edges("merge") if "merge_weight" in written.edges[p, "merge"]} == {"ft1", "ft2"}
    assert graph.as_dict()["merges"] == graph.merges
    assert plot(graph, tmp_path / "tree.png").stat().st_size > 0


@pytest.mark.slow
def test_search_names_the_victim_and_both_fine_tunes_as_ancestors_of_a_merge(victim, fine_tunes, tmp_path):
    from llm_lineage.attacks import derive
    from llm_lineage.registry import Registry, search

    first, second = fine_tunes
    merged = derive(first, "merge-slerp", tmp_path / "merge", others=str(second), t=0.4)
    with Registry(tmp_path / "reg.sqlite", create=True) as reg:
        for model, name in ((victim, "victim"), (first, "ft1"), (second, "ft2")):
            reg.add(model, name=name, methods=["tracing"])
        found = search(merged, reg)
    assert {c.name for c in found.candidates if c.verdict is Verdict.DERIVED} == {"victim", "ft1", "ft2"}


def test_a_block_is_copied_only_when_one_candidate_is_far_nearer_than_the_others():
    import numpy as np

    from llm_lineage.merges import _source

    rng = np.random.default_rng(0)
    a = rng.normal(size=4096)
    b = a + 1e-4 * rng.normal(size=4096)   # a sibling a few fine-tuning steps away: within COPIED of a
    mixed = _source(0, 0.7 * a + 0.3 * b, ["a", "b"], [[a], [b]])
    assert mixed.source is None and mixed.donor is None and mixed.nearest.startswith("a block 0")
    copied = _source(0, b.copy(), ["a", "b"], [[a], [b]])
    assert copied.source == "b block 0" and copied.donor == 1
