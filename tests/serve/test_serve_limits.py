"""One abusive request cannot take the server from everyone else: it is refused with a 4xx that
names the limit, and the model's work runs off the event loop, so /v1/models keeps answering."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from llm_lineage.serve import ServeOptions, create_app
from llm_lineage.serve.background import running


@pytest.fixture(scope="module")
def client(backend):
    return TestClient(create_app(backend, served_name="m"))


@pytest.mark.parametrize("body, status, words", [
    ({"max_tokens": 10 ** 30}, 400, "between 1 and 256"),
    ({"max_tokens": [1]}, 400, "must be an integer"),
    ({"max_tokens": 1.5}, 400, "must be an integer"),
    ({"logprobs": {}}, 400, "must be an integer"),
    ({"logprobs": 10 ** 6}, 400, "between 0 and"),
    ({"prompt": list(range(5)) * 20_000}, 400, "context"),
    ({"prompt": list(range(5)) * 200, "echo": True, "logprobs": 1}, 400, "context"),
])
def test_abusive_parameters_are_refused_with_the_limit(client, body, status, words):
    answer = client.post("/v1/completions", json={"model": "m", "prompt": "Hi", "max_tokens": 1, **body})
    assert answer.status_code == status and words in answer.json()["error"]["message"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(backend):
    small = TestClient(create_app(backend, ServeOptions(max_body_bytes=10_000), served_name="m"))
    answer = small.post("/v1/completions", content=b'{"prompt": "' + b"a" * 50_000 + b'"}',
                        headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_admin_routes_are_off_unless_enabled(backend):
    assert TestClient(create_app(backend)).post("/admin/pause").status_code in (404, 405)
    on = TestClient(create_app(backend, ServeOptions(admin=True)))
    assert on.post("/admin/pause").json() == {"paused": True} and on.post("/admin/resume").status_code == 200


def test_models_answer_while_a_long_generation_runs(backend):
    with running(backend) as url:
        done = threading.Event()

        def long_generation():
            httpx.post(f"{url}/completions", json={"model": "m", "prompt": "Once", "max_tokens": 256}, timeout=120)
            done.set()

        worker = threading.Thread(target=long_generation)
        worker.start()
        time.sleep(0.05)
        start = time.monotonic()
        assert httpx.get(f"{url}/models", timeout=30).status_code == 200
        waited = time.monotonic() - start
        worker.join(timeout=120)
        assert done.is_set() and waited < 2.0
