"""GGUF export and read-back: every tensor of every family the GGUF reader supports comes back equal,
under its own role, through llama.cpp's conventions (Q/K row order, gemma's ``1 + w`` norms and four
norms a layer, a tied classifier left out)."""

from __future__ import annotations

import numpy as np
import pytest

from llm_lineage import zoo
from llm_lineage.serve.gguf_export import export_gguf
from llm_lineage.weights import open_checkpoint


def _gemma3(tmp_path):
    import transformers as t

    config = t.Gemma3TextConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                num_key_value_heads=2, head_dim=16, vocab_size=zoo.VOCAB_SIZE,
                                max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = t.AutoModelForCausalLM.from_config(config)
    for name, param in model.named_parameters():  # norms start at 0 (gain 1): make them tell apart
        if name.endswith("norm.weight"):
            param.data.normal_()
    return zoo.save(model, tmp_path / "gemma3")


@pytest.mark.parametrize("arch", ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3"])
def test_every_tensor_round_trips_through_gguf(arch, tmp_path):
    model_dir = _gemma3(tmp_path) if arch == "gemma3" else zoo.build(arch, seed=0)
    original, exported = open_checkpoint(model_dir), open_checkpoint(export_gguf(model_dir, tmp_path / "m.gguf"))
    assert exported.unmapped_keys == [] and original.unmapped_keys == []
    assert exported.config.norm_weight_offset == original.config.norm_weight_offset
    mine = {(r.role, r.layer, r.expert): r for r in original.roles()}
    theirs = {(r.role, r.layer, r.expert): r for r in exported.roles()}
    assert set(theirs) == set(mine), set(theirs) ^ set(mine)
    for role, layer, _ in mine:
        # gemma's norms go through float32 (w + 1) - 1 as in llama.cpp: equal to one rounding step
        want, got = original.tensor(role, layer), exported.tensor(role, layer)
        steps = 2e-7 * (1 + np.abs(want)) if "norm" in role and "gemma" in arch else 0
        assert np.all(np.abs(got - want) <= steps), f"{arch} {role} layer {layer}"
    assert exported.summary()["vocab_size"] == original.summary()["vocab_size"] == zoo.VOCAB_SIZE
