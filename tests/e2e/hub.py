"""A Hugging Face cache tree and a stand-in hub, built in tests the way ``huggingface_hub`` lays
them out and speaks to them (nothing here reaches the real hub)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


def commit_sha(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


def cache_model(cache: Path, repo_id: str, model: Path, *, sha: str, refs: tuple[str, ...] = ("main",)) -> Path:
    """``model``'s files as revision ``sha`` of ``repo_id`` in the cache at ``cache``: blobs named by
    their sha256, the snapshot's files symlinks into them, ``refs/<name>`` holding the sha."""
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = folder / "snapshots" / sha
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for file in sorted(model.iterdir()):
        if not file.is_file():
            continue
        blob = folder / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        if not blob.exists():
            shutil.copyfile(file, blob)
        link = snapshot / file.name
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(blob, snapshot))
    (folder / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (folder / "refs" / ref).write_text(sha)
    return snapshot


class StandInHub:
    """Repos of files served as the hub serves them: ``/api/models/ORG/NAME/revision/REV`` (the
    model info with its files' sizes) and ``/ORG/NAME/resolve/REV/FILE`` (HEAD with the commit and
    etag headers, GET with the bytes). ``fetched`` lists every file whose bytes were sent."""

    def __init__(self) -> None:
        self.repos: dict[str, tuple[str, dict[str, bytes]]] = {}
        self.fetched: list[str] = []

    def add(self, repo_id: str, files: dict[str, bytes], *, sha: str) -> None:
        self.repos[repo_id] = (sha, files)

    @contextmanager
    def serving(self) -> Iterator[str]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _missing(self) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Type", "application/json")
                body = b'{"error": "Repository not found"}'
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            def _answer(self, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(200)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:  # noqa: N802 (http.server's names)
                self.do_GET()

            def do_GET(self) -> None:  # noqa: N802
                parts = unquote(urlparse(self.path).path).strip("/").split("/")
                if parts[:2] == ["api", "models"] and (len(parts) == 4 or len(parts) >= 6 and parts[4] == "revision"):
                    repo = "/".join(parts[2:4])
                    if repo not in hub.repos:
                        return self._missing()
                    sha, files = hub.repos[repo]
                    info = {"id": repo, "sha": sha,
                            "siblings": [{"rfilename": n, "size": len(b)} for n, b in sorted(files.items())]}
                    return self._answer(json.dumps(info).encode(), {"Content-Type": "application/json"})
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo, name = "/".join(parts[:2]), "/".join(parts[4:])
                    if repo not in hub.repos or name not in hub.repos[repo][1]:
                        return self._missing()
                    sha, files = hub.repos[repo]
                    if self.command == "GET":
                        hub.fetched.append(name)
                    etag = hashlib.sha256(files[name]).hexdigest()
                    return self._answer(files[name], {"X-Repo-Commit": sha, "ETag": f'"{etag}"',
                                                      "Content-Type": "application/octet-stream"})
                return self._missing()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
