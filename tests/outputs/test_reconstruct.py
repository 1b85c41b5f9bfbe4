"""Evidence in the four access modes reconstructs the true logits up to a constant, within its noise model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_lineage.errors import EndpointUnsupported, InputError, VocabularyMismatch
from llm_lineage.outputs import SimulatedAPI, collect

from .conftest import FakeModel

PROMPTS = ("one", "two", "three")
TOKENS = np.arange(0, 200, 3)


def _error(model, evidence):
    truth = np.vstack([model.forward(p) for p in evidence.prompts]).astype(np.float64)
    index = np.searchsorted(np.arange(model.vocab_size), evidence.token_ids)
    diff = evidence.values - truth[:, index]
    return diff - diff.mean(axis=1, keepdims=True)  # the constant is free


@pytest.mark.parametrize("access, decimals", [("logits", None), ("probs", None), ("probs", 4),
                                              ("topk", None), ("topk", 4), ("top1", None), ("top1", 4)])
def test_each_mode_recovers_logits_within_its_noise(fake_model, access, decimals):
    api = SimulatedAPI(fake_model, access, top_k=5, decimals=decimals)
    evidence = collect(api, TOKENS, PROMPTS, access=access)
    assert evidence.n_queries == api.n_queries
    assert evidence.n_tokens == len(TOKENS) and evidence.dropped_tokens == ()
    error = _error(fake_model, evidence)
    assert np.all(np.abs(error).max(axis=1) < 6 * evidence.noise_sd)
    if decimals:  # the noise model is not vacuous: rounding to 4 decimals is visible
        assert np.all(evidence.noise_sd > 1e-5)


def test_query_counts_per_mode(fake_model):
    counts = {}
    for access in ("logits", "topk", "top1"):
        api = SimulatedAPI(fake_model, access, top_k=5)
        collect(api, TOKENS, PROMPTS, access=access)
        counts[access] = api.n_queries
    assert counts["logits"] == len(PROMPTS)
    # top-k: one unbiased query, then k-1 = 4 new tokens per query
    assert counts["topk"] <= len(PROMPTS) * (1 + int(np.ceil(len(TOKENS) / 4)) + 2)
    assert counts["top1"] >= len(PROMPTS) * (len(TOKENS) - 1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), scale=st.floats(0.1, 3.0), k=st.integers(2, 8))
def test_topk_reconstruction_is_exact_up_to_float32(seed, scale, k):
    head = np.random.default_rng(seed).normal(scale=scale, size=(60, 8))
    model = FakeModel(head)
    evidence = collect(SimulatedAPI(model, "topk", top_k=k, max_bias=1000.0), np.arange(60), ("p",), access="topk")
    assert np.abs(_error(model, evidence)).max() < 6 * evidence.noise_sd[0] + 1e-12


def test_ties_at_the_top_do_not_lose_the_reference():
    head = np.zeros((40, 2))
    head[:, 0] = np.linspace(-3, 1, 40)
    head[[5, 7], 0] = 2.0  # two tokens tied for the argmax, as bf16 makes common
    model = FakeModel(head)
    model.forward = lambda prompt: head[:, 0].astype(np.float32)
    evidence = collect(SimulatedAPI(model, "topk", top_k=3), np.arange(40), ("p",), access="topk")
    assert evidence.n_tokens == 40
    assert np.abs(_error(model, evidence)).max() < 1e-5


def test_tokens_beyond_the_bias_limit_are_dropped_and_recorded():
    head = np.zeros((30, 1))
    head[:, 0] = np.linspace(0, 1, 30)
    head[3, 0] = -80.0  # needs a bias above 80 to reach the top k
    model = FakeModel(head)
    model.forward = lambda prompt: head[:, 0].astype(np.float32)
    api = SimulatedAPI(model, "topk", top_k=4, max_bias=40.0)
    evidence = collect(api, np.arange(30), ("p",), access="topk", initial_bias=10.0)
    assert evidence.dropped_tokens == (3,)
    assert 3 not in evidence.token_ids and evidence.n_tokens == 29


def test_bad_requests_are_refused(fake_model):
    with pytest.raises(EndpointUnsupported):
        SimulatedAPI(fake_model, "probs").logits("x")
    with pytest.raises(EndpointUnsupported):
        SimulatedAPI(fake_model, "topk", top_k=5).top_logprobs("x", top_k=6)
    with pytest.raises(EndpointUnsupported, match="logit_bias"):
        SimulatedAPI(fake_model, "top1", max_bias=100).top_logprobs("x", top_k=1, logit_bias={1: 101.0})
    with pytest.raises(EndpointUnsupported):
        collect(SimulatedAPI(fake_model, "probs"), TOKENS, PROMPTS, access="topk")
    with pytest.raises(VocabularyMismatch):
        collect(SimulatedAPI(fake_model, "logits"), [0, 500], PROMPTS)
    with pytest.raises(InputError):
        collect(SimulatedAPI(fake_model, "logits"), [1, 1], PROMPTS)
    with pytest.raises(InputError):
        SimulatedAPI(fake_model, "topk", top_k=1)
