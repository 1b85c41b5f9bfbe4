"""Third-party servers started by the tests: a free port, start and wait, stop at the end."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def servers(tmp_path) -> Iterator:
    """``start(command, health_url, name)``: run a server, wait until ``health_url`` answers 200
    (its log in the failure message if it exits or never does); all are stopped at the end."""
    procs: list[subprocess.Popen] = []

    def start(command: list[str], health_url: str, name: str, timeout_s: float = 120.0) -> None:
        log_path = tmp_path / f"{name}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"{name} exited: {_tail(log_path)}"
            try:
                if httpx.get(health_url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"{name} did not answer within {timeout_s:.0f} s: {_tail(log_path)}")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:]
