"""derive(): every kind registered, manifests written, reruns reused, user errors mapped."""

from __future__ import annotations

import json

import pytest
import torch

from llm_lineage import zoo
from llm_lineage.attacks import ATTACKS, derive
from llm_lineage.attacks.registry import load_kinds
from llm_lineage.errors import InputError

KINDS = {"finetune", "continue-pretrain", "quantize", "prune", "rotate", "permute", "scale", "upcycle-moe",
         "unrelated", "lq-lora", "gradnormlorp"}


def test_every_kind_of_this_package_is_registered():
    assert KINDS <= set(load_kinds())


def test_manifest_records_the_attack_and_reruns_reuse_the_directory(victim, tmp_path):
    out = derive(victim, "scale", tmp_path / "s", seed=4, factor=2.0)
    manifest = json.loads((out / "attack.json").read_text())
    assert manifest == {"victim": str(victim.resolve()), "kind": "scale", "options": {"seed": 4, "factor": 2.0}}
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert derive(victim, "scale", out, seed=4, factor=2.0) == out
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    derive(victim, "scale", out, seed=5, factor=2.0)  # other options: rebuilt
    assert json.loads((out / "attack.json").read_text())["options"]["seed"] == 5


def test_unknown_kind_and_unknown_option_are_input_errors(victim, tmp_path):
    with pytest.raises(InputError, match="unknown attack"):
        derive(victim, "steal", tmp_path / "x")
    with pytest.raises(InputError, match="rank"):
        derive(victim, "rotate", tmp_path / "y", rank=3)


def test_unrelated_control_is_the_zoo_model_of_that_seed(victim, tmp_path):
    out = derive(victim, "unrelated", tmp_path / "u", seed=5, steps=10)
    ours, zoos = zoo.load(out).state_dict(), zoo.load(zoo.build("llama", seed=5, train_steps=10,
                                                                 out_dir=tmp_path / "z")).state_dict()
    assert ours.keys() == zoos.keys() and all(torch.equal(ours[k], zoos[k]) for k in ours)


def test_continued_pretraining_moves_weights_but_keeps_them_close(victim, tmp_path):
    out = derive(victim, "continue-pretrain", tmp_path / "cp", steps=20, seed=1)
    before, after = zoo.load(victim).state_dict(), zoo.load(out).state_dict()
    key = "model.layers.0.self_attn.q_proj.weight"
    cos = torch.nn.functional.cosine_similarity(before[key].flatten(), after[key].flatten(), dim=0)
    assert 0.5 < cos < 0.9999
    assert ATTACKS["continue-pretrain"].__module__.endswith("pretrain")
