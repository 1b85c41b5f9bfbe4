"""Search and the family tree on the exact tests' stored fingerprints, with the registered weights
deleted (issue 26): an owner, its bf16 copy, a fine-tune, a head-LoRA and a fold+rotate child, and two
unrelated models of the same tokenizer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm_lineage.registry import Registry
from llm_lineage.registry.lineage import lineage_graph
from llm_lineage.registry.search import search
from llm_lineage.stats import Verdict

CLI = str(Path(sys.executable).with_name("llm-lineage"))
CHILDREN = ("bf16", "finetune", "lora-head", "rotate")


@pytest.fixture(scope="module")
def family(victim, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    import torch

    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    tmp = tmp_path_factory.mktemp("fingerprints-only")
    owner = Path(shutil.copytree(victim, tmp / "owner"))  # the children name it as their victim
    models = {"owner": owner,
              "bf16": zoo.save(zoo.load(owner).to(torch.bfloat16), tmp / "bf16"),
              "finetune": derive(owner, "finetune", tmp / "finetune", steps=30, seed=1),
              "lora-head": derive(owner, "lora-head", tmp / "lora-head", rank=8, steps=20, seed=1),
              "rotate": derive(owner, "rotate", tmp / "rotate", seed=4),
              "other-a": zoo.build("llama", seed=7, train_steps=300),
              "other-b": zoo.build("llama", seed=8, train_steps=300)}
    suspects = {name: Path(shutil.copytree(model, tmp / "suspects" / name)) for name, model in models.items()}
    registry = tmp / "r.sqlite"
    with Registry(registry, create=True) as reg:
        for name, model in models.items():
            if name.startswith("other"):
                model = Path(shutil.copytree(model, tmp / name))  # the zoo's own files stay
            reg.add(model, name=name, methods=["tracing", "awm"])
    for name in models:  # the registered weights are deleted; search runs on live copies of the suspects
        for weights in (tmp / name).glob("*.safetensors"):
            weights.unlink()
    return registry, suspects


def test_the_tree_puts_every_child_under_the_owner_without_weights(family):
    registry, _ = family
    with Registry(registry) as reg:
        graph = lineage_graph(reg, alpha=0.01)
    tree = {child: graph.parents.get(child) for child in CHILDREN}
    assert tree == dict.fromkeys(CHILDREN, "owner"), tree
    family_of_owner = next(f for f in graph.families if "owner" in f)
    assert set(CHILDREN) <= set(family_of_owner) and not {"other-a", "other-b"} & set(family_of_owner)
    for e in graph.drawn:
        assert e.adjusted_p < 0.01 and {e.source, e.target} <= {"owner", *CHILDREN}


@pytest.mark.parametrize("child", CHILDREN)
def test_search_names_the_owner_first_as_derived(family, child):
    registry, models = family
    result = search(models[child], registry, methods=["tracing"])
    best = result.candidates[0]
    assert best.name in ("owner", *CHILDREN) and best.verdict is Verdict.DERIVED
    # the registered owner's weights are gone: its stored units decided, with a p-value that survives
    # the correction for every candidate compared
    owner = next(c for c in result.candidates if c.name == "owner")
    assert owner.verdict is Verdict.DERIVED and owner.neg_log10_p > 8
    assert "stored" in owner.methods["tracing"].note
    assert result.verdict is Verdict.DERIVED


def test_registry_check_reports_fingerprints_only_not_failures(family):
    registry, models = family
    done = subprocess.run([CLI, "registry", "check", "--registry", str(registry), "--json"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["consistent"] and sorted(report["fingerprints_only"]) == sorted(models)
