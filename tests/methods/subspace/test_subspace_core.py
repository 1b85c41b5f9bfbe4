"""The maths of the subspace tests on synthetic heads: laws, nulls, noise floors, extra dimensions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_lineage.methods.subspace.core import (
    alignment,
    compatibility,
    count_above_noise,
    estimate_hidden_size,
    null_residual_cdf,
    residuals,
)
from llm_lineage.methods.subspace.key import orthonormal_basis


def _basis(head: np.ndarray) -> tuple[np.ndarray, int]:
    return orthonormal_basis(np.c_[head, np.ones(head.shape[0])])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), hidden=st.integers(2, 12), extra=st.integers(2, 30))
def test_residual_is_invariant_to_a_change_of_basis_of_the_hidden_dim(seed, hidden, extra):
    rng = np.random.default_rng(seed)
    n_tokens = hidden + 1 + extra
    head, outputs = rng.normal(size=(n_tokens, hidden)), rng.normal(size=(5, n_tokens))
    mix = rng.normal(size=(hidden, hidden)) + 3 * np.eye(hidden)  # invertible (well conditioned)
    r1 = residuals(_basis(head)[0], outputs)[0]
    r2 = residuals(_basis(head @ mix)[0], outputs)[0]
    np.testing.assert_allclose(r1, r2, rtol=1e-8, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), shift=st.floats(-50, 50))
def test_outputs_of_the_head_have_zero_residual_whatever_their_constant(seed, shift):
    rng = np.random.default_rng(seed)
    head = rng.normal(size=(30, 6))
    outputs = (head @ rng.normal(size=(6, 4))).T + shift  # log-probs: logits minus a constant
    relative = residuals(_basis(head)[0], outputs)[0]
    assert np.all(relative < 1e-10)


def test_random_vector_null_matches_simulation():
    rng = np.random.default_rng(0)
    n_tokens, hidden = 40, 10
    basis, rank = _basis(rng.normal(size=(n_tokens, hidden)))
    sims = residuals(basis, rng.normal(size=(4000, n_tokens)))[0]
    for q in (0.1, 0.5, 0.9):
        x = float(np.quantile(sims, q))
        assert abs(float(null_residual_cdf(x, n_tokens - rank, rank)) - q) < 0.03


def _synthetic(rng, n_outputs=60, n_tokens=120, hidden=16, lora_rank=0, noise=1e-6, unrelated=False):
    head = rng.normal(size=(n_tokens, hidden))
    suspect_head = rng.normal(size=(n_tokens, hidden)) if unrelated else head.copy()
    if lora_rank:
        suspect_head += 0.3 * rng.normal(size=(n_tokens, lora_rank)) @ rng.normal(size=(lora_rank, hidden))
    outputs = (suspect_head @ rng.normal(size=(hidden, n_outputs))).T - 7.0
    outputs += noise * rng.normal(size=outputs.shape)
    return head, outputs, np.full(n_outputs, noise)


@pytest.mark.parametrize("unrelated", [False, True])
def test_compatibility_separates_copy_from_unrelated(unrelated):
    head, outputs, sd = _synthetic(np.random.default_rng(1), unrelated=unrelated)
    basis, rank = _basis(head)
    result, _ = compatibility(basis, rank, outputs, sd, alpha=0.01, noise_margin=10.0)
    assert result.compatible is (not unrelated)
    assert (result.p_value < 0.01) is (not unrelated)
    assert result.false_positive_rate < 1e-6
    if not unrelated:  # the residual sits at the modelled noise floor
        assert 0.3 < result.median_residual / result.noise_floor < 3


@pytest.mark.parametrize("lora_rank", [1, 3, 6])
def test_alignment_counts_the_rank_of_a_head_change(lora_rank):
    head, outputs, sd = _synthetic(np.random.default_rng(lora_rank), lora_rank=lora_rank)
    basis, rank = _basis(head)
    compat, whitened = compatibility(basis, rank, outputs, sd, alpha=0.01, noise_margin=10.0)
    norms = np.linalg.norm(outputs - outputs.mean(axis=1, keepdims=True), axis=1) / sd
    result = alignment(basis, whitened, norms, hidden_size=16, suspect_width=16, max_extra_fraction=0.5,
                       noise_margin=10.0, n_null=10, seed=0)
    assert not compat.compatible
    assert result.extra_dimensions == lora_rank
    assert result.null_extra_dimensions == 16 and result.p_value < 0.01
    assert result.gap > 10


def test_noise_edge_is_not_crossed_by_pure_noise():
    rng = np.random.default_rng(3)
    count, spectrum, edge = count_above_noise(rng.normal(size=(50, 80)), 80, 1.0)
    assert count == 0 and spectrum[0] < edge
    assert math.isclose(edge, math.sqrt(80) + math.sqrt(50))


def test_hidden_size_estimate_from_outputs_alone():
    _, outputs, sd = _synthetic(np.random.default_rng(4), n_outputs=40, hidden=16)
    estimate = estimate_hidden_size(outputs, sd, noise_margin=10.0)
    assert estimate.hidden_size == 16 and not estimate.lower_bound
    few = estimate_hidden_size(outputs[:10], sd[:10], noise_margin=10.0)
    assert few.hidden_size == 10 and few.lower_bound
