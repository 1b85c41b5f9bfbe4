"""Upcycling a dense llama to a Mixtral-style MoE: loads with transformers, same logits while experts are copies."""

from __future__ import annotations

import json

import pytest
import torch

from llm_lineage import zoo
from llm_lineage.attacks import derive
from llm_lineage.errors import UnsupportedFormat

from .conftest import logits


def test_upcycled_moe_loads_as_mixtral_with_the_dense_logits(victim, tmp_path, input_ids):
    out = derive(victim, "upcycle-moe", tmp_path / "moe", experts=4, top_k=2, seed=1)
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "mixtral" and config["num_local_experts"] == 4
    moe, dense = zoo.load(out), zoo.load(victim)
    assert type(moe).__name__ == "MixtralForCausalLM"
    ref, got = logits(dense, input_ids), logits(moe, input_ids)
    assert torch.allclose(got, ref, atol=1e-5 * ref.abs().max())
    experts = moe.model.layers[0].mlp.experts
    gate_up = torch.cat([dense.model.layers[0].mlp.gate_proj.weight, dense.model.layers[0].mlp.up_proj.weight])
    assert all(torch.equal(experts.gate_up_proj[e], gate_up) for e in range(4))


def test_perturbed_experts_change_the_logits(victim, tmp_path, input_ids):
    out = derive(victim, "upcycle-moe", tmp_path / "moe-noise", experts=4, noise=0.5, seed=1)
    ref, got = logits(zoo.load(victim), input_ids), logits(zoo.load(out), input_ids)
    assert (got - ref).abs().max() > 1e-3 * ref.abs().max()


def test_upcycle_refuses_biased_attention(unrelated_qwen2, tmp_path):
    with pytest.raises(UnsupportedFormat):
        derive(unrelated_qwen2, "upcycle-moe", tmp_path / "x")
