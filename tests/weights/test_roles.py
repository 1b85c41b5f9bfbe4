"""Roles read through the adapters reproduce what each architecture's own forward pass computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llm_lineage import zoo
from llm_lineage.weights import open_checkpoint

# architectures whose attention is plain softmax(q k^T / sqrt(d)) v once RoPE is the identity
PLAIN_ATTENTION = ["llama", "mistral", "qwen2", "gemma", "phi3", "gpt2", "gpt_neox", "opt", "falcon"]


@pytest.mark.parametrize("arch", zoo.ARCHITECTURES)
def test_every_zoo_architecture_maps_all_roles(arch):
    ckpt = open_checkpoint(zoo.build(arch, seed=0))
    cfg = ckpt.config
    assert ckpt.unmapped_keys == []
    for layer in range(cfg.num_hidden_layers):
        assert ckpt.tensor("q_proj", layer).shape == (cfg.num_attention_heads * cfg.head_dim, cfg.hidden_size)
        assert ckpt.tensor("k_proj", layer).shape == (cfg.num_key_value_heads * cfg.head_dim, cfg.hidden_size)
        assert ckpt.tensor("v_proj", layer).shape == (cfg.num_key_value_heads * cfg.head_dim, cfg.hidden_size)
        assert ckpt.tensor("o_proj", layer).shape == (cfg.hidden_size, cfg.num_attention_heads * cfg.head_dim)
        assert ckpt.has("attn_norm", layer) and ckpt.has("mlp_norm", layer)
        if ckpt.is_moe:
            assert ckpt.tensor("gate_proj", layer, expert=cfg.num_experts - 1).shape[1] == cfg.hidden_size
            assert ckpt.has("router", layer)
        elif ckpt.gated_mlp:
            inter = ckpt.tensor("gate_proj", layer).shape[0]
            assert ckpt.tensor("up_proj", layer).shape == (inter, cfg.hidden_size)
            assert ckpt.tensor("down_proj", layer).shape == (cfg.hidden_size, inter)
        else:
            inter = ckpt.tensor("fc_in", layer).shape[0]
            assert ckpt.tensor("fc_out", layer).shape == (cfg.hidden_size, inter)
    assert ckpt.tensor("lm_head").shape == (cfg.vocab_size, cfg.hidden_size)
    assert ckpt.tensor("embed_tokens").shape == (cfg.vocab_size, cfg.hidden_size)


def _attention_module(model, ckpt, layer: int):
    key = next(r.key for r in ckpt.roles() if r.layer == layer and r.expert is None and r.role in ("q_proj", "qkv_proj"))
    return model.get_submodule(key.rsplit(".", 2)[0])


@pytest.mark.parametrize("arch", PLAIN_ATTENTION)
def test_split_projections_reproduce_the_attention_forward(arch):
    """With all positions 0, RoPE is the identity and attention can be recomputed from our roles."""
    path = zoo.build(arch, seed=0)
    ckpt = open_checkpoint(path)
    model = zoo.load(path)
    captured = {}

    def hook(module, args, kwargs, output):
        captured["x"] = (args[0] if args else kwargs["hidden_states"]).detach()
        captured["y"] = (output[0] if isinstance(output, tuple) else output).detach()

    layer = ckpt.n_layers - 1
    handle = _attention_module(model, ckpt, layer).register_forward_hook(hook, with_kwargs=True)
    ids = torch.tensor([[5, 17, 99, 3]])
    with torch.no_grad():
        model(input_ids=ids, position_ids=torch.zeros_like(ids))
    handle.remove()

    cfg = ckpt.config
    x = captured["x"][0].double().numpy()
    heads, kv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim

    def proj(role):
        w = ckpt.tensor(role, layer, dtype=np.float64)
        b = ckpt.tensor(role + ".bias", layer, dtype=np.float64) if ckpt.has(role + ".bias", layer) else 0.0
        return x @ w.T + b

    q = proj("q_proj").reshape(len(x), heads, hd)
    k = np.repeat(proj("k_proj").reshape(len(x), kv, hd), heads // kv, axis=1)
    v = np.repeat(proj("v_proj").reshape(len(x), kv, hd), heads // kv, axis=1)
    scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd)
    scores += np.triu(np.full((len(x), len(x)), -np.inf), 1)
    attn = np.exp(scores - scores.max(-1, keepdims=True))
    attn /= attn.sum(-1, keepdims=True)
    out = np.einsum("hqk,khd->qhd", attn, v).reshape(len(x), heads * hd)
    expected = proj_out = out @ ckpt.tensor("o_proj", layer, dtype=np.float64).T
    if ckpt.has("o_proj.bias", layer):
        expected = proj_out + ckpt.tensor("o_proj.bias", layer, dtype=np.float64)
    np.testing.assert_allclose(expected, captured["y"][0].double().numpy(), rtol=1e-4, atol=1e-5)


def test_shared_checkpoints_are_mapped(shared_models):
    for model_dir in sorted((shared_models / "hf").iterdir()):
        ckpt = open_checkpoint(model_dir)
        summary = ckpt.summary()
        assert summary["unmapped_keys"] == []
        assert summary["layers_found"] == ckpt.n_layers
        assert ckpt.tensor("lm_head").shape == (ckpt.config.vocab_size, ckpt.config.hidden_size)


def test_pickle_training_checkpoint_matches_its_safetensors_twin(shared_models):
    """llama2xs_ckpt.pt and hf/llama2xs hold the same weights; llama2.c's q/k row order differs."""
    pickled = open_checkpoint(shared_models / "llama2c" / "llama2xs_ckpt.pt", allow_pickle=True)
    hf = open_checkpoint(shared_models / "hf" / "llama2xs")
    np.testing.assert_array_equal(pickled.tensor("v_proj", 2), hf.tensor("v_proj", 2))
    np.testing.assert_array_equal(pickled.tensor("embed_tokens"), hf.tensor("embed_tokens"))
    assert pickled.config.num_key_value_heads == hf.config.num_key_value_heads
