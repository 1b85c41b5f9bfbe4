"""Endpoint answers that are not what an OpenAI-compatible server returns: reported at once (exit 3,
one line), never retried, never read as evidence."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llm_lineage.errors import EndpointMalformed
from llm_lineage.outputs.openai_endpoint import OpenAIEndpoint, RetryPolicy

CLI = str(Path(sys.executable).with_name("llm-lineage"))


def _completion(logprobs: dict) -> dict:
    return {"id": "x", "object": "text_completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "text": "a", "finish_reason": "length",
                         "logprobs": {"tokens": ["token_id:1"], "token_logprobs": [-0.1],
                                      "top_logprobs": [logprobs], "text_offset": [0]}}]}


ANSWERS = {
    "not json": b"<html>hello</html>",
    "choices not a list": json.dumps({"id": "x", "object": "text_completion", "created": 0, "model": "m",
                                      "choices": "many"}).encode(),
    "top_logprobs not a mapping": json.dumps(_completion(["token_id:1"])).encode(),  # type: ignore[arg-type]
    "positive log-prob": json.dumps(_completion({"token_id:1": 0.7, "token_id:2": -1.0})).encode(),
    "infinite log-prob": json.dumps(_completion({"token_id:1": "Infinity"})).encode().replace(b'"Infinity"', b"Infinity"),
}


@contextmanager
def answering(body: bytes):
    """A server that answers every request with ``body`` (status 200) and counts the requests."""
    counter = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            counter["n"] += 1
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", counter
    finally:
        server.shutdown()


@pytest.mark.parametrize("kind", list(ANSWERS))
def test_a_malformed_answer_is_reported_once_not_retried(kind):
    with answering(ANSWERS[kind]) as (url, counter):
        ep = OpenAIEndpoint(url, "m", vocab_size=512, retry=RetryPolicy(max_retries=5, base_delay_s=0.5))
        start = time.monotonic()
        with pytest.raises(EndpointMalformed, match=url):
            ep.top_logprobs("The little dog", top_k=2)
        assert counter["n"] == 1 and time.monotonic() - start < 5


def test_cli_says_one_line_and_exits_3(victim, tmp_path):
    with answering(ANSWERS["positive log-prob"]) as (url, _):
        done = subprocess.run([CLI, "verify", "--owner", str(victim), "--suspect", url, "--api-model", "m",
                               "--strategy", "topk-biased", "--cache", str(tmp_path / "q.sqlite")],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "log-prob of 0.7" in done.stderr


def test_a_failure_mid_campaign_still_prints_the_bill(victim, tmp_path):
    # the budget runs out after the probe: the error line comes with what was paid and where it is kept
    from llm_lineage.serve import LocalBackend, ServeOptions
    from llm_lineage.serve.background import running

    with running(LocalBackend(victim), ServeOptions(max_top_logprobs=5)) as url:  # top-5: many queries
        done = subprocess.run([CLI, "verify", "--owner", str(victim), "--suspect", url, "--api-model", "m",
                               "--cache", str(tmp_path / "q.sqlite"), "--max-queries", "40", "--outputs", "4"],
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 3 and "budget" in done.stderr, done.stderr
    assert "queries paid in this run" in done.stderr and "--resume" in done.stderr


def test_an_edited_or_emptied_cache_is_refused(tmp_path):
    import sqlite3

    from llm_lineage.errors import InputError
    from llm_lineage.outputs.cache import QueryCache

    path = tmp_path / "q.sqlite"
    with QueryCache(path, endpoint="http://x/v1", model="m") as cache:
        cache.reserve()
        cache.put({"prompt": "a"}, {"choices": [{"logprobs": {"top_logprobs": [{"a": -1.0}]}}]})
    with sqlite3.connect(path) as db:
        db.execute("UPDATE answers SET response = replace(response, '-1.0', '-0.1')")
    with QueryCache(path, endpoint="http://x/v1", model="m", resume=True) as cache, \
            pytest.raises(InputError, match="does not match its checksum"):
        cache.get({"prompt": "a"})
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE answers")
    with pytest.raises(InputError, match="does not hold the cache's tables"):
        QueryCache(path, endpoint="http://x/v1", model="m", resume=True)
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(InputError, match="nothing to resume"):
        QueryCache(empty, endpoint="http://x/v1", model="m", resume=True)
