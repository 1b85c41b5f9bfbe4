"""A served model in a background thread of this process, for tests, benchmarks and notebooks.

``with running(backend, options) as url:`` starts uvicorn on a free loopback port, waits until it
answers, yields ``http://127.0.0.1:PORT/v1`` and shuts the server down on exit (bounded waits).
The ``llm-lineage serve`` command runs the same app in the foreground (``serve.serve``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import EndpointUnavailable
from .app import ServeOptions, create_app
from .backend import LocalBackend


@contextmanager
def running(backend: LocalBackend, options: ServeOptions = ServeOptions(), *, served_name: str = "m",
            start_timeout_s: float = 30.0) -> Iterator[str]:
    import httpx
    import uvicorn

    app = create_app(backend, options, served_name=served_name)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    # answers go out at once: without TCP_NODELAY a response written in two parts waits ~40 ms
    # for the client's delayed ACK (Nagle), which would dominate every query's time
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1))
    # not the main thread: signals stay with the caller (uvicorn's attribute is not in its stubs)
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"serve:{port}")
    thread.start()
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise EndpointUnavailable(f"the background server on port {port} did not start")
        time.sleep(0.02)
    try:
        httpx.get(f"{url}/models", timeout=5.0).raise_for_status()
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10.0)
        sock.close()
