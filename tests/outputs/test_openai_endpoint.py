"""The endpoint client over real HTTP (a served zoo model in a background thread): answers, retries,
budget, concurrency, token text, and the API key kept out of everything stored."""

from __future__ import annotations

import numpy as np
import pytest

from llm_lineage.errors import EndpointUnavailable, InputError, QueryBudgetExceeded
from llm_lineage.outputs.cache import QueryCache
from llm_lineage.outputs.openai_endpoint import OpenAIEndpoint, RetryPolicy
from llm_lineage.outputs.strategies import tokenizer_vocabulary
from llm_lineage.serve import ServeOptions
from llm_lineage.serve.background import running

PROMPT = "The little dog"
FAST_RETRY = RetryPolicy(max_retries=8, base_delay_s=0.01, max_delay_s=0.05, total_s=20.0, request_timeout_s=10.0)


@pytest.fixture(scope="module")
def url(backend):
    with running(backend) as base:
        yield base


def endpoint(url: str, **kw) -> OpenAIEndpoint:
    return OpenAIEndpoint(url, "m", vocab_size=512, retry=kw.pop("retry", FAST_RETRY), **kw)


def test_top_logprobs_match_the_local_model(url, reference):
    ep = endpoint(url)
    for bias in (None, {11: 25.0, 40: 25.0}):
        got = ep.top_logprobs(PROMPT, top_k=5, logit_bias=bias)
        want = reference.top_logprobs(PROMPT, top_k=5, logit_bias=bias)
        assert got.token_ids.tolist() == want.token_ids.tolist()
        np.testing.assert_allclose(got.logprobs, want.logprobs, atol=1e-5)
    assert ep.n_queries == 2


def test_token_text_is_mapped_back_through_the_tokenizer(url, victim, reference):
    ep = endpoint(url, token_ids=False, vocabulary=tokenizer_vocabulary(victim, 512))
    got = ep.top_logprobs(PROMPT, top_k=20)
    want = reference.top_logprobs(PROMPT, top_k=20)
    # text that several ids share is dropped, never guessed
    assert set(got.token_ids.tolist()) <= set(want.token_ids.tolist())
    assert len(got.token_ids) >= 15 and got.sampled_id == want.sampled_id


def test_cache_answers_repeats_without_paying(url, tmp_path):
    cache = QueryCache(tmp_path / "q.sqlite", endpoint=url, model="m")
    ep = endpoint(url, cache=cache)
    first = ep.request(PROMPT, logprobs=3)
    again = ep.request(PROMPT, logprobs=3)
    assert first == again
    counts = cache.counts()
    assert (counts.used, counts.cached) == (1, 1)


def test_concurrent_requests_equal_sequential_ones(url):
    calls = [{"prompt": PROMPT, "logprobs": 2, "logit_bias": {t: 30.0}} for t in range(20, 44)]
    parallel = endpoint(url, concurrency=6).request_many(calls)
    serial = endpoint(url, concurrency=1).request_many(calls)
    strip = [[a["choices"][0]["logprobs"] for a in answers] for answers in (parallel, serial)]
    assert strip[0] == strip[1]


def test_budget_stops_paid_queries(url):
    ep = endpoint(url, cache=QueryCache(None, endpoint=url, model="m", max_queries=3))
    for t in range(3):
        ep.request(PROMPT, logit_bias={t: 1.0})
    ep.request(PROMPT, logit_bias={0: 1.0})  # cached: free
    with pytest.raises(QueryBudgetExceeded):
        ep.request(PROMPT, logit_bias={5: 1.0})


def test_transient_faults_are_retried(backend):
    with running(backend, ServeOptions(fault_rate=0.4, fault_kinds=("429", "500"), seed=3)) as url:
        ep = endpoint(url, concurrency=3)
        answers = ep.request_many([{"prompt": PROMPT, "logit_bias": {t: 1.0}} for t in range(30)])
    assert len(answers) == 30 and ep.cache.counts().retried > 0 and ep.cache.counts().used == 30


def test_time_outs_are_retried_and_failures_are_bounded(backend):
    with running(backend, ServeOptions(fault_rate=0.3, fault_kinds=("timeout",), fault_delay=1.0, seed=5)) as url:
        ep = endpoint(url, retry=RetryPolicy(max_retries=10, base_delay_s=0.01, max_delay_s=0.05, total_s=30.0,
                                             request_timeout_s=0.3))
        for t in range(8):
            ep.request(PROMPT, logit_bias={t: 1.0})
        assert ep.cache.counts().retried > 0
    with running(backend, ServeOptions(fault_rate=1.0, fault_kinds=("500",))) as url:
        ep = endpoint(url, retry=RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.02, total_s=5.0))
        with pytest.raises(EndpointUnavailable, match="4 attempts"):
            ep.request(PROMPT)
        assert ep.cache.counts().used == 0 and ep.cache.counts().retried == 3
        ep.cache.reserve()  # the failed query gave its reservation back


def test_a_dead_endpoint_is_unavailable_not_a_hang():
    ep = endpoint("http://127.0.0.1:9/v1", retry=RetryPolicy(max_retries=2, base_delay_s=0.01, total_s=3.0,
                                                              request_timeout_s=1.0))
    with pytest.raises(EndpointUnavailable):
        ep.request(PROMPT)


def test_api_key_is_read_from_the_named_variable_and_never_stored(url, tmp_path, monkeypatch):
    secret = "sk-test-DO-NOT-STORE-0123456789"
    monkeypatch.setenv("LINEAGE_TEST_KEY", secret)
    path = tmp_path / "q.sqlite"
    ep = endpoint(url, api_key_env="LINEAGE_TEST_KEY", cache=QueryCache(path, endpoint=url, model="m"))
    ep.request(PROMPT, logprobs=2)
    ep.cache.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in stored and secret not in repr(ep)
    monkeypatch.delenv("LINEAGE_TEST_KEY")
    with pytest.raises(InputError, match="LINEAGE_TEST_KEY"):
        endpoint(url, api_key_env="LINEAGE_TEST_KEY")
    with pytest.raises(InputError, match="http"):
        endpoint("ftp://127.0.0.1/v1")


def test_collect_asks_prompts_concurrently_with_the_same_evidence(backend, tmp_path):
    import httpx

    from llm_lineage.outputs.probe import probe
    from llm_lineage.outputs.reconstruct import collect

    tokens, prompts = np.arange(40, 80), ("Once upon a time", "The little dog", "Section 3.1 Maintenance", "Tom saw")
    evidence, peaks = [], []
    with running(backend, ServeOptions(max_top_logprobs=5, latency=0.05)) as base:
        for concurrency in (1, 4):
            ep = endpoint(base, concurrency=concurrency, cache=QueryCache(None, endpoint=base, model="m"))
            probe(ep)  # sets what collect may ask: top-5 with logit_bias
            evidence.append(collect(ep, tokens, prompts, access="topk", top_k=5))
            peaks.append(httpx.get(base.removesuffix("/v1") + "/stats").json()["peak_in_flight"])
    np.testing.assert_array_equal(evidence[0].values, evidence[1].values)
    assert evidence[0].n_queries == evidence[1].n_queries
    assert peaks[0] == 1 and peaks[1] > 1  # one prompt at a time, then several
