"""LocalModel and open_suspect on a real zoo model directory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llm_lineage.errors import InputError, ModelNotFound
from llm_lineage.outputs import LocalModel, OutputSource, SimulatedAPI, open_suspect


@pytest.fixture(scope="module")
def local(victim):
    return LocalModel(victim)


def test_local_model_matches_transformers_and_counts_queries(local, victim):
    from transformers import AutoModelForCausalLM

    assert isinstance(local, OutputSource)
    model = AutoModelForCausalLM.from_pretrained(victim)
    ids = local.tokenizer("Once upon a time")["input_ids"]
    with torch.no_grad():
        truth = model(input_ids=torch.tensor([ids])).logits[0, -1].numpy()
    before, forwards = local.n_queries, local.n_forward
    np.testing.assert_allclose(local.logits("Once upon a time"), truth, rtol=1e-5, atol=1e-5)
    lp = local.logprobs("Once upon a time")
    np.testing.assert_allclose(np.exp(lp).sum(), 1.0, rtol=1e-5)
    top = local.top_logprobs("Once upon a time", top_k=3, logit_bias={7: 50.0})
    assert top.token_ids[0] == 7
    assert local.n_queries == before + 3 and local.n_forward == forwards + 1  # one forward, three queries


def test_bfloat16_compute_changes_logits_slightly(victim, local):
    half = LocalModel(victim, dtype="bfloat16")
    a, b = local.logits("The cat"), half.logits("The cat")
    assert 0 < np.abs(a - b).max() < 0.1 * np.abs(a).max()


def test_simulated_api_rounds(local):
    api = SimulatedAPI(local, "probs", decimals=2)
    lp = api.logprobs("Tom")
    np.testing.assert_allclose(lp, np.round(lp, 2))
    assert api.capabilities.logprob_decimals == 2 and not api.capabilities.logits


def test_open_suspect(victim, tmp_path):
    assert isinstance(open_suspect(victim, access="top1"), SimulatedAPI)
    with pytest.raises(ModelNotFound):
        open_suspect(tmp_path / "missing")
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(InputError):
        open_suspect(tmp_path / "file.bin")
    with pytest.raises(InputError, match="access"):
        open_suspect(victim, access="everything")


@pytest.mark.parametrize("access", ["topk", "top1"])
def test_bias_modes_on_the_unlimited_local_model(local, access):
    from llm_lineage.outputs import collect

    tokens = np.arange(0, 512, 16)
    evidence = collect(local, tokens, ("Once upon a time",), access=access, top_k=5)
    truth = local.forward("Once upon a time")[tokens].astype(np.float64)
    error = evidence.values[0] - truth
    assert np.isfinite(evidence.noise_sd).all() and evidence.noise_sd[0] < 1e-3
    assert np.abs(error - error.mean()).max() < 6 * evidence.noise_sd[0]
