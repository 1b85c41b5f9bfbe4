"""Strategies 1, 4 and 5 against the truth of the served model, and their stated precision."""

from __future__ import annotations

import numpy as np
import pytest

from llm_lineage.outputs.openai_endpoint import OpenAIEndpoint, RetryPolicy
from llm_lineage.outputs.strategies import (
    StrategyPlan,
    StrategySource,
    echo_logprobs,
    full_logprobs,
    greedy_search_logits,
    tokenizer_vocabulary,
)
from llm_lineage.serve import ServeOptions
from llm_lineage.serve.background import running

PROMPT = "She opened the door and"
TOKENS = np.arange(3, 43)
RETRY = RetryPolicy(max_retries=3, base_delay_s=0.01, total_s=10.0)


def test_full_logprobs_is_one_query_and_exact(backend, reference):
    with running(backend) as url:
        ep = OpenAIEndpoint(url, "m", vocab_size=512, retry=RETRY)
        got = full_logprobs(ep, PROMPT)
    np.testing.assert_allclose(got, reference.logprobs(PROMPT), atol=1e-5)
    assert ep.n_queries == 1


def test_echo_reads_exact_logprobs_when_the_bias_is_ignored(backend, reference):
    with running(backend, ServeOptions(max_top_logprobs=1, ignore_logit_bias_in_logprobs=True)) as url:
        ep = OpenAIEndpoint(url, "m", vocab_size=512, retry=RETRY, concurrency=4)
        got = echo_logprobs(ep, PROMPT, TOKENS)
    np.testing.assert_allclose(got[TOKENS], reference.logprobs(PROMPT)[TOKENS], atol=1e-5)
    assert np.isnan(np.delete(got, TOKENS)).all() and ep.n_queries == 1 + len(TOKENS)


@pytest.mark.parametrize("precision", [0.05, 0.002])
def test_greedy_search_recovers_logit_gaps_to_the_asked_precision(backend, reference, victim, precision):
    # no log-probs: the generated token is read from its text, through the owner's tokenizer
    with running(backend, ServeOptions(logprobs=False)) as url:
        ep = OpenAIEndpoint(url, "m", vocab_size=512, retry=RETRY, concurrency=4,
                            vocabulary=tokenizer_vocabulary(victim, 512))
        got = greedy_search_logits(ep, PROMPT, TOKENS[:16], precision=precision)
        n = ep.n_queries
    logits = reference.logits(PROMPT)
    truth = logits - logits.max()
    tokens = TOKENS[:16]
    measured = np.isfinite(got[tokens])
    assert measured.mean() > 0.9  # only gaps beyond the bias limit stay unmeasured
    assert np.max(np.abs(got[tokens][measured] - truth[tokens][measured])) <= precision / 2 + 1e-4
    steps = int(np.ceil(np.log2(100.0 / precision)))
    assert n <= 1 + len(tokens) * (1 + steps)


def test_strategy_source_states_its_precision(backend):
    with running(backend, ServeOptions(logprobs=False)) as url:
        ep = OpenAIEndpoint(url, "m", vocab_size=512, retry=RETRY)
        source = StrategySource(ep, StrategyPlan("greedy-search", 1, 5e-4))
        assert source.capabilities.probs and source.precision == 5e-4
        assert source.capabilities.logprob_decimals == 3  # +-5e-4 is rounding to 3 decimals
