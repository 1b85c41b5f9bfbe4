"""The durable query cache: keys, resume rules, the budget, and answers surviving kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_lineage.errors import InputError, QueryBudgetExceeded
from llm_lineage.outputs.cache import QueryCache, request_key

URL = "http://127.0.0.1:1/v1"
params_st = st.dictionaries(st.sampled_from(["prompt", "logprobs", "logit_bias", "echo", "max_tokens"]),
                            st.one_of(st.integers(-5, 5), st.text(max_size=5), st.booleans()), min_size=1)


@settings(max_examples=60, deadline=None)
@given(params_st, params_st)
def test_key_depends_on_content_not_order(a, b):
    assert request_key(URL, "m", a) == request_key(URL, "m", dict(reversed(list(a.items()))))
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # 0 and False differ on the wire
    assert (request_key(URL, "m", a) == request_key(URL, "m", b)) == same
    assert request_key(URL, "m", a) != request_key(URL, "other", a)
    assert request_key(URL, "m", a) != request_key("http://127.0.0.1:2/v1", "m", a)


def test_answers_round_trip_and_resume_is_explicit(tmp_path):
    path = tmp_path / "q.sqlite"
    with QueryCache(path, endpoint=URL, model="m") as cache:
        assert cache.get({"prompt": "a"}) is None
        cache.reserve()
        cache.put({"prompt": "a"}, {"choices": [{"text": "b"}]})
        assert cache.counts().used == 1
    with pytest.raises(InputError, match="already holds 1 answers") as refused:
        QueryCache(path, endpoint=URL, model="m")
    assert "--resume" in refused.value.hint
    with QueryCache(path, endpoint=URL, model="m", resume=True) as cache:
        assert cache.get({"prompt": "a"}) == {"choices": [{"text": "b"}]}
        counts = cache.counts()
        assert (counts.used, counts.cached, counts.stored) == (0, 1, 1)
    # another model on the same file is a campaign of its own
    with QueryCache(path, endpoint=URL, model="other") as cache:
        assert cache.get({"prompt": "a"}) is None


def test_budget_counts_queries_in_flight(tmp_path):
    cache = QueryCache(tmp_path / "q.sqlite", endpoint=URL, model="m", max_queries=2)
    cache.reserve()
    cache.reserve()
    with pytest.raises(QueryBudgetExceeded):
        cache.reserve()
    cache.release()  # a query that failed for good gives its reservation back
    cache.reserve()
    with pytest.raises(InputError):
        QueryCache(None, endpoint=URL, model="m", max_queries=-1)


def test_not_a_database_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(InputError, match="not a usable SQLite"):
        QueryCache(bad, endpoint=URL, model="m")


def test_every_reported_answer_survives_kill_9(tmp_path):
    """A writer killed with SIGKILL keeps every answer it had reported as stored."""
    path = tmp_path / "q.sqlite"
    script = textwrap.dedent(f"""
        from llm_lineage.outputs.cache import QueryCache
        cache = QueryCache({str(path)!r}, endpoint={URL!r}, model="m")
        for i in range(100000):
            cache.reserve()
            cache.put({{"prompt": i}}, {{"answer": i}})
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    last = -1
    deadline = time.monotonic() + 60
    try:
        while last < 50 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            last = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert last >= 50, "the writer did not get going"
    with QueryCache(path, endpoint=URL, model="m", resume=True) as cache:
        assert cache.stored() >= last + 1
        assert all(cache.get({"prompt": i}) == {"answer": i} for i in range(last + 1))
