"""An API key that a server echoes in its error message never reaches the user's terminal or logs."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llm_lineage.errors import EndpointRejected, EndpointUnavailable
from llm_lineage.outputs.openai_endpoint import OpenAIEndpoint, RetryPolicy

KEY = "sk-test-0123456789abcdef"


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with an error that repeats the Authorization header, as some proxies do."""

    status = 400

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": {"message": f"bad key {self.headers.get('Authorization')}"}}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _EchoUnavailable(_Echo):
    status = 503


@pytest.mark.parametrize("handler, error", [(_Echo, EndpointRejected), (_EchoUnavailable, EndpointUnavailable)])
def test_an_echoed_key_is_redacted(monkeypatch, handler, error) -> None:
    monkeypatch.setenv("TEST_API_KEY", KEY)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = OpenAIEndpoint(f"http://127.0.0.1:{server.server_address[1]}/v1", "m", vocab_size=16,
                                  api_key_env="TEST_API_KEY",
                                  retry=RetryPolicy(max_retries=1, base_delay_s=0.0, max_delay_s=0.0))
        with pytest.raises(error) as caught:
            endpoint.request("hello", logprobs=1)
    finally:
        server.shutdown()
        server.server_close()
    assert KEY not in str(caught.value) and KEY not in repr(endpoint)
    if error is EndpointRejected:  # a rejection quotes the server's message: with the key cut out
        assert "bad key Bearer [api key]" in str(caught.value)
