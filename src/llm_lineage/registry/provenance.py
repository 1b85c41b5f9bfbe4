"""Where a registered fingerprint came from: files, hashes, architecture, tool version, time.

Provenance is what lets an owner defend a registry entry later: the sha256 of every weight file
proves which bytes were fingerprinted, the tokenizer hash says which vocabulary the token ids mean.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..weights import Checkpoint

_CHUNK = 1 << 22


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def weight_files(ckpt: Checkpoint) -> list[Path]:
    return sorted({Path(p) for p in ckpt.store.files})


def provenance(ckpt: Checkpoint, *, source: str | None = None) -> dict[str, Any]:
    """Provenance record of a checkpoint (a plain JSON-able dict)."""
    from .. import __version__

    files = weight_files(ckpt)
    root = ckpt.path if ckpt.path.is_dir() else ckpt.path.parent
    return {
        "source": source or str(ckpt.path.resolve()),
        "weight_files": {_relative(p, root): sha256_file(p) for p in files},
        "tokenizer_sha256": ckpt.tokenizer_hash(),
        "architecture": ckpt.summary(),
        "tool_version": __version__,
        "added_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
