"""Function-preserving reparameterisations: same logits to float tolerance, materially different weights."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_lineage import zoo
from llm_lineage.attacks import derive, reparam
from llm_lineage.errors import UnsupportedFormat

from .conftest import logits

# float32 weights through float64 transforms: rounding leaves ~1e-6 on logits of size ~10
RTOL = 1e-5


def _assert_same_function(base, attacked, input_ids) -> None:
    ref, out = logits(base, input_ids), logits(attacked, input_ids)
    assert torch.allclose(out, ref, rtol=0, atol=RTOL * ref.abs().max()), (out - ref).abs().max()


def _weights_moved(base, attacked) -> float:
    b, a = base.state_dict(), attacked.state_dict()
    return max(float((b[k] - a[k]).abs().max() / b[k].abs().max().clamp_min(1e-12))
               for k in b if k in a and b[k].shape == a[k].shape and b[k].dim() == 2)


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def trained(request, victim, unrelated_qwen2):
    return victim if request.param == "llama" else unrelated_qwen2


@pytest.mark.parametrize("kind", ["rotate", "permute", "scale"])
def test_reparam_preserves_logits(trained, kind, input_ids):
    base, attacked = zoo.load(trained), zoo.load(trained)
    reparam.__dict__[kind](attacked, seed=3)
    _assert_same_function(base, attacked, input_ids)
    assert _weights_moved(base, attacked) > 0.1  # a real change, not a no-op


@pytest.mark.parametrize("kind", ["permute", "scale"])
def test_gpt2_permute_and_scale_preserve_logits(gpt2_model_dir, kind, input_ids):
    base, attacked = zoo.load(gpt2_model_dir), zoo.load(gpt2_model_dir)
    reparam.__dict__[kind](attacked, seed=5)
    _assert_same_function(base, attacked, input_ids)
    assert _weights_moved(base, attacked) > 0.1


def test_rotate_leaves_unit_norm_gains_and_orthogonal_embedding_change(victim, input_ids):
    base, rotated = zoo.load(victim), zoo.load(victim)
    reparam.rotate(rotated, seed=1)
    norms = [m.weight for name, m in rotated.named_modules() if name.endswith("norm")]
    assert norms and all(torch.equal(w, torch.ones_like(w)) for w in norms)
    assert any(not torch.equal(m.weight, torch.ones_like(m.weight))
               for name, m in base.named_modules() if name.endswith("norm"))  # folding had work to do
    # rotation keeps the Gram matrix of token embeddings: E R^T (E R^T)^T = E E^T
    e0, e1 = base.model.embed_tokens.weight.double(), rotated.model.embed_tokens.weight.double()
    assert torch.allclose(e1 @ e1.T, e0 @ e0.T, atol=1e-4)
    assert not torch.allclose(e1, e0, atol=1e-2)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_rotation_matrix_is_orthogonal_and_folded_rotation_preserves_logits(victim, input_ids, seed):
    rot = reparam.random_orthogonal(64, seed)
    assert torch.allclose(rot @ rot.T, torch.eye(64, dtype=torch.float64), atol=1e-12)
    base, rotated = zoo.load(victim), zoo.load(victim)
    reparam.rotate(rotated, seed=seed)
    _assert_same_function(base, rotated, input_ids)


def test_rotation_without_folding_would_break_the_model(victim, input_ids):
    """Why folding is needed: rotating around RMSNorm gains that are not 1 changes the logits."""
    base, model = zoo.load(victim), zoo.load(victim)
    rot = reparam.random_orthogonal(64, 0).float()
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(model.model.embed_tokens.weight @ rot.T)
        for layer in model.model.layers:
            for lin in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj,
                        layer.mlp.gate_proj, layer.mlp.up_proj):
                lin.weight.copy_(lin.weight @ rot.T)
            for lin in (layer.self_attn.o_proj, layer.mlp.down_proj):
                lin.weight.copy_(rot @ lin.weight)
        model.lm_head.weight.copy_(model.lm_head.weight @ rot.T)
    ref, out = logits(base, input_ids), logits(model, input_ids)
    assert (out - ref).abs().max() > 100 * RTOL * ref.abs().max()


def test_rotate_refuses_layernorm_models(gpt2_model_dir):
    with pytest.raises(UnsupportedFormat, match="gpt2"):
        reparam.rotate(zoo.load(gpt2_model_dir))


def test_vocabulary_permutation_preserves_text_level_behaviour(victim, tmp_path):
    out = derive(victim, "permute", tmp_path / "vocab", vocab=True, ffn=False, heads=False, seed=2)
    from transformers import AutoTokenizer

    tok0, tok1 = AutoTokenizer.from_pretrained(victim), AutoTokenizer.from_pretrained(out)
    text = "Once upon a time, there was a happy fox named Leo."
    ids0 = tok0(text, return_tensors="pt").input_ids
    ids1 = tok1(text, return_tensors="pt").input_ids
    assert not torch.equal(ids0, ids1)  # the ids really moved
    # the same piece under its new id, for every id
    new_of_old = torch.tensor(tok1.convert_tokens_to_ids(tok0.convert_ids_to_tokens(list(range(len(tok0))))))
    assert torch.equal(ids1, new_of_old[ids0])
    assert torch.equal(torch.sort(new_of_old).values, torch.arange(len(tok0)))  # a permutation
    ref, got = logits(zoo.load(victim), ids0), logits(zoo.load(out), ids1)
    assert torch.allclose(got[..., new_of_old], ref, atol=RTOL * ref.abs().max())
    for special in tok0.all_special_ids:
        assert new_of_old[special] == special
