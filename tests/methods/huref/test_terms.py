"""The term algebra: Pearson of X A X^T from d x d products, GQA pairing as in the forward."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_lineage.errors import InputError
from llm_lineage.methods.huref import terms
from llm_lineage.weights import open_checkpoint


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 40), d1=st.integers(1, 9), d2=st.integers(1, 9), seed=st.integers(0, 2**31 - 1))
def test_correlation_equals_dense_pearson(n: int, d1: int, d2: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x1, a1 = rng.normal(size=(n, d1)), rng.normal(size=(d1, d1)) + 0.3
    x2, a2 = rng.normal(size=(n, d2)), rng.normal(size=(d2, d2))
    m1, m2 = x1 @ a1 @ x1.T, x2 @ a2 @ x2.T
    mean, var = terms.moments(x1, a1)
    assert mean == pytest.approx(m1.mean(), abs=1e-9 * (1 + abs(m1).max()))
    assert var == pytest.approx(m1.var(), rel=1e-7, abs=1e-9)
    dense = np.corrcoef(m1.ravel(), m2.ravel())[0, 1]
    assert terms.correlation(x1, a1, x2, a2) == pytest.approx(dense, abs=1e-8)


def test_correlation_is_scale_free_and_symmetric() -> None:
    rng = np.random.default_rng(1)
    x, a, b = rng.normal(size=(50, 6)), rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    r = terms.correlation(x, a, x, b)
    assert terms.correlation(3 * x, 5 * a, x, b) == pytest.approx(r)
    assert terms.correlation(x, b, x, a) == pytest.approx(r)
    assert terms.correlation(x, a, x, -a) == pytest.approx(-1.0)


def test_attention_term_pairs_each_query_head_with_its_kv_group(victim) -> None:
    ckpt = open_checkpoint(victim)
    cfg = ckpt.config
    assert cfg.num_attention_heads != cfg.num_key_value_heads  # the zoo llama uses GQA
    q, k = ckpt.tensor("q_proj", 1, dtype=np.float64), ckpt.tensor("k_proj", 1, dtype=np.float64)
    v, o = ckpt.tensor("v_proj", 1, dtype=np.float64), ckpt.tensor("o_proj", 1, dtype=np.float64)
    rep = cfg.num_attention_heads // cfg.num_key_value_heads
    hd = cfg.head_dim

    def repeat_kv(w: np.ndarray) -> np.ndarray:  # transformers' repeat_kv on the weight rows
        return np.repeat(w.reshape(cfg.num_key_value_heads, hd, -1), rep, axis=0).reshape(-1, w.shape[1])

    a_attn, a_vo = terms.attention_terms(ckpt, 1, "huref")
    np.testing.assert_allclose(a_attn, q.T @ repeat_kv(k), atol=1e-10)
    np.testing.assert_allclose(a_vo, repeat_kv(v).T @ o.T, atol=1e-10)


def test_invariant_mode_folds_norm_gains(victim) -> None:
    ckpt = open_checkpoint(victim)
    gain = ckpt.tensor("attn_norm", 0, dtype=np.float64)
    raw, _ = terms.attention_terms(ckpt, 0, "huref")
    folded, _ = terms.attention_terms(ckpt, 0, "invariant")
    np.testing.assert_allclose(folded, np.diag(gain) @ raw @ np.diag(gain), atol=1e-10)


def test_layers_resolve_from_the_end_and_reject_out_of_range() -> None:
    assert terms.resolve_layers((-2, -1), 5) == [("L-2", 3), ("L-1", 4)]
    assert [i for _, i in terms.resolve_layers("all", 3)] == [0, 1, 2]
    with pytest.raises(InputError, match="outside"):
        terms.resolve_layers((7,), 5)
