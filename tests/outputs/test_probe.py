"""The probe against every provider behaviour the server imitates, and the strategy it then picks."""

from __future__ import annotations

import pytest

from llm_lineage.errors import EndpointUnsupported
from llm_lineage.outputs.openai_endpoint import OpenAIEndpoint, RetryPolicy
from llm_lineage.outputs.probe import probe
from llm_lineage.outputs.strategies import choose, tokenizer_vocabulary
from llm_lineage.serve import ServeOptions
from llm_lineage.serve.background import running

RETRY = RetryPolicy(max_retries=3, base_delay_s=0.01, total_s=10.0, request_timeout_s=10.0)


@pytest.fixture(scope="module")
def vocabulary(victim):
    return tokenizer_vocabulary(victim, 512)


# behaviour imitated -> (what the probe must report, the strategy it must choose)
CASES = {
    "paper server (full log-probs)": (ServeOptions(), dict(top_logprobs_cap=512, bias_shifts_logprobs=True,
                                                           logprob_decimals=None, max_biased_tokens=None),
                                      "full-logprobs"),
    "top-5 with biased log-probs": (ServeOptions(max_top_logprobs=5), dict(top_logprobs_cap=5, bias_shifts_logprobs=True),
                                    "topk-biased"),
    "top-1 with biased log-probs": (ServeOptions(max_top_logprobs=1), dict(top_logprobs_cap=1, bias_shifts_logprobs=True),
                                    "top1-biased"),
    "OpenAI today: bias ignored in log-probs, 300 biased tokens, top-5": (
        ServeOptions(max_top_logprobs=5, ignore_logit_bias_in_logprobs=True, max_biased_tokens=300),
        dict(top_logprobs_cap=5, logit_bias=True, bias_changes_sampling=True, bias_shifts_logprobs=False,
             max_biased_tokens=300, echo=True), "echo"),
    "rounded log-probs": (ServeOptions(max_top_logprobs=5, logprob_decimals=3),
                          dict(logprob_decimals=3, top_logprobs_cap=5), "topk-biased"),
    "bias ignored in log-probs, no echo": (
        ServeOptions(max_top_logprobs=5, ignore_logit_bias_in_logprobs=True, echo=False),
        dict(bias_shifts_logprobs=False, echo=False), "greedy-search"),
    "no log-probs at all": (ServeOptions(logprobs=False), dict(logprobs=False, top_logprobs_cap=0,
                                                                bias_changes_sampling=True), "greedy-search"),
    "logit_bias refused, top-5": (ServeOptions(max_top_logprobs=5, logit_bias=False),
                                  dict(logit_bias=False, echo=True), "echo"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_probe_detects_the_behaviour_and_picks_a_working_strategy(backend, vocabulary, case):
    options, expected, strategy = CASES[case]
    with running(backend, options) as url:
        ep = OpenAIEndpoint(url, "m", vocab_size=512, vocabulary=vocabulary, retry=RETRY)
        result = probe(ep)
    for name, value in expected.items():
        assert getattr(result, name) == value, f"{case}: {name}"
    assert result.n_queries <= 25
    chosen, plan = choose(result)
    assert plan.name == strategy and chosen.strategy == strategy
    assert set(chosen.strategies) == {"full-logprobs", "topk-biased", "top1-biased", "echo", "greedy-search"}
    assert ep.capabilities.top_k == result.top_logprobs_cap


def test_an_endpoint_that_gives_nothing_is_refused_with_reasons(backend, vocabulary):
    with running(backend, ServeOptions(logprobs=False, logit_bias=False)) as url:
        result = probe(OpenAIEndpoint(url, "m", vocab_size=512, vocabulary=vocabulary, retry=RETRY))
    with pytest.raises(EndpointUnsupported, match="cannot be verified") as refused:
        choose(result)
    assert "logit_bias is refused" in str(refused.value) and "no log-probs" in str(refused.value)


def test_asking_for_a_strategy_that_cannot_run_says_why(backend, vocabulary):
    with running(backend, ServeOptions(max_top_logprobs=5, ignore_logit_bias_in_logprobs=True)) as url:
        result = probe(OpenAIEndpoint(url, "m", vocab_size=512, vocabulary=vocabulary, retry=RETRY))
    with pytest.raises(EndpointUnsupported, match="does not shift"):
        choose(result, strategy="topk-biased")
    assert choose(result, strategy="greedy-search")[1].name == "greedy-search"
