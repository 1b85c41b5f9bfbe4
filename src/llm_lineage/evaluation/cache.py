"""A results cache so that a rerun of an evaluation skips the pairs it has already scored.

One JSON file, keyed by tool version + method variant + the content hash of owner and suspect
(config.json and weight files), so renaming or moving a model keeps its results, while rebuilding
it with other weights or upgrading the tool (whose methods may score differently) does not.
Written atomically after every pair: an interrupted run loses at most one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt")
_hashes: dict[tuple[str, int, int], str] = {}


def model_hash(path: str | Path) -> str:
    """sha256 over config.json and the weight files of a model directory (or of one file)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.name == "config.json" or p.suffix in _WEIGHT_SUFFIXES)
    stamp = max((p.stat().st_mtime_ns for p in files), default=0)
    memo = (str(path.resolve()), stamp, sum(p.stat().st_size for p in files))
    if memo not in _hashes:
        digest = hashlib.sha256()
        for p in files:
            digest.update(p.name.encode())
            with p.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        _hashes[memo] = digest.hexdigest()
    return _hashes[memo]


class ResultCache:
    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._entries: dict[str, Any] = {}
        if self.path and self.path.is_file():
            try:
                self._entries = json.loads(self.path.read_text())
            except json.JSONDecodeError:  # a damaged cache only costs recomputation
                self._entries = {}

    @staticmethod
    def key(method: str, owner: str | Path, suspect: str | Path, references: Sequence[str | Path] = ()) -> str:
        """Changes with the tool version, both models' files and the null's reference models."""
        from .. import __version__

        refs = ",".join(sorted(model_hash(r) for r in references))
        return f"{__version__}|{method}|{model_hash(owner)}|{model_hash(suspect)}|{refs}"

    def get(self, key: str) -> dict[str, Any] | None:
        return self._entries.get(key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._entries[key] = record
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._entries, indent=1, sort_keys=True))
        tmp.replace(self.path)

    def __len__(self) -> int:
        return len(self._entries)
