"""``llm-lineage serve``: a local model behind an OpenAI-compatible completions API (FastAPI + uvicorn)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from .app import ServeOptions, create_app
from .backend import LocalBackend


def serve(model_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8000,
          options: ServeOptions = ServeOptions(), served_name: str | None = None,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve ``model_dir`` until interrupted; ``on_ready`` gets the base URL (``http://host:port/v1``).

    The socket is bound here, before uvicorn starts, so ``port=0`` picks a free port and the
    caller learns which one.
    """
    import uvicorn

    app = create_app(LocalBackend(model_dir), options, served_name=served_name)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    # answers go out at once: without TCP_NODELAY a response written in two parts waits ~40 ms
    # for the client's delayed ACK (Nagle), which would dominate every query's time
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(128)  # connections made before uvicorn starts wait in the backlog
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(f"http://{host}:{bound}/v1")
    server.run(sockets=[sock])


__all__ = ["LocalBackend", "ServeOptions", "create_app", "serve"]
