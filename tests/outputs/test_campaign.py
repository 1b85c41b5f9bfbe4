"""Campaigns: ``open_suspect`` on a URL, and verification through the echo strategy when the
endpoint's log-probs ignore ``logit_bias`` (as OpenAI's, vLLM's and llama.cpp's do)."""

from __future__ import annotations

import pytest

from llm_lineage.methods.subspace import SubspaceConfig, verify_endpoint
from llm_lineage.outputs import open_suspect
from llm_lineage.outputs.source import is_url
from llm_lineage.serve import LocalBackend, ServeOptions
from llm_lineage.serve.background import running

OPENAI_LIKE = ServeOptions(max_top_logprobs=5, ignore_logit_bias_in_logprobs=True)


def test_open_suspect_probes_a_url(victim, tmp_path):
    assert is_url("https://api.example.com/v1") and not is_url(str(victim))
    with running(LocalBackend(victim), ServeOptions(max_top_logprobs=5)) as url:
        source = open_suspect(url, api_model="m", vocab_size=512, cache_path=tmp_path / "q.sqlite")
        assert source.capabilities.top_k == 5 and source.capabilities.bias_shifts_logprobs
        assert source.top_logprobs("Once upon a time", top_k=5).token_ids.shape == (5,)


@pytest.mark.parametrize("suspect, truth", [("victim", "derived"), ("unrelated_llama", "unrelated")])
def test_echo_strategy_gives_the_right_verdict(request, victim, suspect, truth, tmp_path):
    with running(LocalBackend(request.getfixturevalue(suspect)), OPENAI_LIKE) as url:
        outcome = verify_endpoint(victim, url, api_model="m", cache_path=tmp_path / "q.sqlite", concurrency=4,
                                  config=SubspaceConfig(n_outputs=3, n_tokens=70))
    assert outcome.campaign.strategy == "echo" and outcome.result.access == "echo"
    assert outcome.verdict.value == truth
    # one query per key token and prompt, plus one per prompt for its token ids, plus the probe
    assert outcome.campaign.queries_used <= 3 * (70 + 1) + outcome.campaign.probe.n_queries


def test_whole_vocabulary_answers_are_cached_for_the_key_tokens_only(victim, tmp_path):
    import json
    import sqlite3

    cache = tmp_path / "q.sqlite"
    config = SubspaceConfig(n_outputs=3, n_tokens=70)
    with running(LocalBackend(victim), ServeOptions(max_top_logprobs=512)) as url:
        first = verify_endpoint(victim, url, api_model="m", cache_path=cache, config=config)
        again = verify_endpoint(victim, url, api_model="m", cache_path=cache, config=config, resume=True)
    assert first.campaign.strategy == "full-logprobs" and first.verdict.value == "derived"
    with sqlite3.connect(cache) as db:
        answers = [json.loads(r[0]) for r in db.execute("SELECT response FROM answers WHERE request LIKE '%kept_tokens%'")]
    assert len(answers) == 3
    for answer in answers:
        (top,) = answer["choices"][0]["logprobs"]["top_logprobs"]
        assert 0 < len(top) <= 70     # not the 512 the server sent
    # a resumed run reads the kept answers back and reaches the same numbers without paying
    assert again.campaign.queries_used == 0
    assert (again.result.score, again.result.p_value) == (first.result.score, first.result.p_value)
