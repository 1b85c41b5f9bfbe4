"""Audit by selective opening: reveal only the chunks a fingerprint reads, and recompute it from them.

The owner (``open_bundle``) recomputes the commitment from the model and the secret (it must give
the bundle's root), runs each audited method's ``fingerprint`` over a store that records what it
reads (whole tensors, or the rows of an embedding), and writes those leaves with their salts and
Merkle paths. The auditor (``audit``) checks every leaf against the root, rebuilds a checkpoint
that holds *only* the opened bytes (reading anything else is an error), recomputes each
fingerprint with the same code, and compares it with the signed one, field by field: equal bit
for bit, or the first field that differs. It reports the share of the committed bytes revealed.

What an audit proves: the published fingerprint is what this package computes from weights that
the commitment binds the owner to. What it does not: that the committed weights are the ones an
endpoint serves (see ``inference consistency`` in the README), nor anything about unopened chunks.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AttestationFailed, InputError, MissingTensor
from ..paths import uncached
from ..weights import Checkpoint
from ..weights.stores import decode
from .bundle import check_bundle
from .commitment import (
    Commitment,
    Leaf,
    commit,
    leaf_hash,
    load_or_create_secret,
    path,
    root_from_path,
    salt,
    write_json,
)

FORMAT = "llm-lineage-opening/1"
PROVENANCE_FIELDS = ("model", "model_name", "name", "path", "source", "created", "identity")
OPENING, CHUNKS = "opening.json", "chunks.bin"


@dataclass(frozen=True)
class AuditReport:
    bundle: str
    root: str
    methods: dict[str, str]        # method -> "bit for bit" (or why it did not apply)
    leaves_opened: int
    leaves_total: int
    bytes_opened: int
    bytes_total: int
    endpoint: dict[str, Any] | None = None  # the challenge to a served model, when one was made

    @property
    def share_revealed(self) -> float:
        return self.bytes_opened / self.bytes_total if self.bytes_total else math.nan


class _Recording:
    """A store that passes reads through and remembers which leaves they touched."""

    def __init__(self, store: Any, leaves: Sequence[Leaf]) -> None:
        self._store = store
        self.touched: set[int] = set()
        self._by_name: dict[str, list[int]] = {}
        for i, leaf in enumerate(leaves):
            if leaf.kind == "tensor":
                self._by_name.setdefault(leaf.name, []).append(i)
        self._leaves = leaves

    def __getattr__(self, name: str) -> Any:  # keys, shape, dtype, files, ...
        return getattr(self._store, name)

    def get(self, key: str, dtype: Any = np.float32) -> np.ndarray:
        self.touched.update(self._by_name.get(key, ()))
        return self._store.get(key, dtype=dtype)

    def get_rows(self, key: str, rows: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
        wanted = np.asarray(rows, dtype=np.int64)
        for i in self._by_name.get(key, ()):
            span = self._leaves[i].rows
            if span is None or np.any((wanted >= span[0]) & (wanted < span[1])):
                self.touched.add(i)
        return self._store.get_rows(key, wanted, dtype=dtype)


class _Opened:
    """A store over opened leaves only: reading a byte that was not opened is an error."""

    def __init__(self, leaves: Sequence[Leaf], data: dict[int, bytes]) -> None:
        self._leaves, self._data = leaves, data
        self._by_name: dict[str, list[int]] = {}
        for i, leaf in enumerate(leaves):
            if leaf.kind == "tensor":
                self._by_name.setdefault(leaf.name, []).append(i)
        self.files: tuple[Path, ...] = ()

    def keys(self) -> list[str]:
        return list(self._by_name)

    def _first(self, key: str) -> Leaf:
        if key not in self._by_name:
            raise MissingTensor(f"no tensor {key!r} in the commitment")
        return self._leaves[self._by_name[key][0]]

    def shape(self, key: str) -> tuple[int, ...]:
        return self._first(key).shape

    def dtype(self, key: str) -> str:
        return self._first(key).dtype

    def get(self, key: str, dtype: Any = np.float32) -> np.ndarray:
        indices = self._by_name.get(key, [])
        closed = [i for i in indices if i not in self._data]
        if not indices or closed:
            raise MissingTensor(f"tensor {key!r} was not opened ({len(closed)} of {len(indices)} chunks closed)")
        raw = np.frombuffer(b"".join(self._data[i] for i in indices), dtype=np.uint8)
        first = self._first(key)
        return decode(raw, first.dtype, first.shape, dtype)

    def get_rows(self, key: str, rows: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
        first = self._first(key)
        if len(first.shape) != 2:
            return self.get(key, dtype=dtype)[rows]
        row_bytes = first.length // max((first.rows or (0, 1))[1] - (first.rows or (0, 1))[0], 1)
        spans = [(i, span) for i in self._by_name[key] if (span := self._leaves[i].rows) is not None]
        out = []
        for row in np.asarray(rows, dtype=np.int64):
            found = next(((i, span) for i, span in spans if span[0] <= row < span[1]), None)
            if found is None or found[0] not in self._data:
                raise MissingTensor(f"row {row} of tensor {key!r} was not opened")
            start = (int(row) - found[1][0]) * row_bytes
            out.append(self._data[found[0]][start:start + row_bytes])
        raw = np.frombuffer(b"".join(out), dtype=np.uint8)
        return decode(raw, first.dtype, (len(out), first.shape[1]), dtype)


def open_bundle(model: str | Path, bundle: str | Path, out: str | Path, *, secret_path: str | Path,
                methods: Sequence[str] | None = None, progress: bool = False) -> Path:
    """Write the opening of ``bundle`` for ``methods`` (default: every fingerprint in it)."""
    from ..methods import get_method
    from ..weights import open_checkpoint

    published = check_bundle(bundle)
    ckpt = open_checkpoint(model)
    if not Path(secret_path).is_file():
        raise InputError(f"no commitment secret at {secret_path}: only the owner who published can open")
    secret = load_or_create_secret(secret_path)
    commitment, tree = commit(ckpt, secret, chunk_bytes=published.commitment.chunk_bytes, progress=progress)
    if commitment.root != published.commitment.root:
        raise AttestationFailed(f"{model} with this secret commits to {commitment.root[:16]}..., the bundle to "
                                f"{published.commitment.root[:16]}...: another model, or another secret")
    chosen = list(methods or published.fingerprints())
    recording = _Recording(ckpt.store, commitment.leaves)
    watched = Checkpoint(ckpt.path, ckpt.config, recording, ckpt.adapter)
    with uncached():
        for name in chosen:
            method = get_method(name)
            method.fingerprint(watched, method.default_config())
    opened = sorted(recording.touched | {i for i, leaf in enumerate(commitment.leaves) if leaf.kind == "file"})
    from .commitment import chunk

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries, offset = [], 0
    with (out / CHUNKS).open("wb") as fh:
        for i in opened:
            data = chunk(ckpt, commitment.leaves[i])
            fh.write(data)
            entries.append({"index": i, "salt": salt(secret, i).hex(), "path": path(tree, i),
                            "offset": offset, "length": len(data)})
            offset += len(data)
    write_json(out / OPENING, {"format": FORMAT, "root": commitment.root, "methods": chosen, "leaves": entries})
    return out


def audit(bundle: str | Path, opening: str | Path, *, public_key: str | None = None, suspect: str | None = None,
          api_model: str | None = None, **endpoint_options: Any) -> AuditReport:
    """Check an opening against a bundle and recompute its fingerprints (module docstring).

    With ``suspect`` (an endpoint URL) and ``subspace`` among the opening's methods, the owner key
    is rebuilt from the *opened, committed* lm_head and the endpoint is tested against it: the
    practical form of HuRef's inference proof (the model that answers is the committed one),
    with a key the owner could not have swapped.
    """
    published = check_bundle(bundle, public_key=public_key)
    opening = Path(opening)
    try:
        doc = json.loads((opening / OPENING).read_text())
        blob = (opening / CHUNKS).read_bytes()
        entries = [(int(e["index"]), bytes.fromhex(e["salt"]), e["path"], int(e["offset"]), int(e["length"]))
                   for e in doc["leaves"]]
        methods = [str(m) for m in doc["methods"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{opening} is not a readable opening ({type(exc).__name__}: {exc})") from None
    commitment = published.commitment
    data = _checked_leaves(commitment, entries, blob)
    stored = published.fingerprints()
    outcome: dict[str, str] = {}
    challenge = None
    with _opened_checkpoint(commitment, data, str(published.manifest.get("model", "owner"))) as ckpt:
        recomputed = _recompute(ckpt, methods)
        for name in methods:
            if name == "subspace":  # a key, not a published fingerprint: it serves the challenge
                outcome[name] = "owner key rebuilt from the committed lm_head"
                continue
            if name not in stored:
                raise AttestationFailed(f"the bundle holds no {name} fingerprint to audit")
            _compare(name, stored[name], recomputed[name])
            outcome[name] = "bit for bit"
        if suspect is not None:
            if "subspace" not in recomputed:
                raise InputError("a challenge to an endpoint needs the lm_head opened",
                                 hint="open with --methods subspace (plus any fingerprint to audit)")
            from ..methods.subspace import verify_endpoint

            checked = verify_endpoint(recomputed["subspace"], suspect, api_model=api_model,
                                      tokenizer_dir=ckpt.path, **endpoint_options)
            challenge = {"endpoint": suspect, "verdict": checked.verdict.value,
                         "graded_verdict": checked.result.graded_verdict, "p_value": checked.p_value,
                         "queries": checked.campaign.queries_used}
    return AuditReport(str(published.path), commitment.root, outcome, len(data), len(commitment.leaves),
                       sum(commitment.leaves[i].length for i in data), commitment.total_bytes, challenge)


def _checked_leaves(commitment: Commitment, entries: list[tuple[int, bytes, Any, int, int]],
                    blob: bytes) -> dict[int, bytes]:
    root = bytes.fromhex(commitment.root)
    data: dict[int, bytes] = {}
    for index, leaf_salt, merkle_path, offset, length in entries:
        if not 0 <= index < len(commitment.leaves) or offset < 0 or offset + length > len(blob):
            raise AttestationFailed(f"opening names leaf {index} or bytes outside {CHUNKS}")
        leaf = commitment.leaves[index]
        chunk = blob[offset:offset + length]
        where = f"{leaf.kind} {leaf.name}" + (f" rows {leaf.rows[0]}..{leaf.rows[1]}" if leaf.rows else
                                              f" bytes {leaf.offset}..{leaf.offset + leaf.length}")
        if len(chunk) != leaf.length:
            raise AttestationFailed(f"opened chunk of {where} has {len(chunk)} bytes, the commitment says {leaf.length}")
        try:
            reached = root_from_path(leaf_hash(leaf, leaf_salt, chunk), merkle_path)
        except (ValueError, TypeError):
            raise AttestationFailed(f"the Merkle path of {where} is malformed") from None
        if reached != root:
            raise AttestationFailed(f"the opened chunk of {where} does not match the commitment root "
                                    f"(its bytes, salt or Merkle path were altered)")
        data[index] = chunk
    return data


@contextmanager
def _opened_checkpoint(commitment: Commitment, data: dict[int, bytes], name: str) -> Iterator[Checkpoint]:
    """A checkpoint that holds only the opened bytes (its files in a temporary directory)."""
    from ..weights import ModelConfig, adapter_for

    with tempfile.TemporaryDirectory(prefix="llm-lineage-audit-") as tmp:
        root = Path(tmp) / (re.sub(r"[^A-Za-z0-9._-]", "_", name) or "owner")
        root.mkdir()
        for file in sorted({leaf.name for leaf in commitment.leaves if leaf.kind == "file"}):
            parts = [i for i, leaf in enumerate(commitment.leaves) if leaf.kind == "file" and leaf.name == file]
            if all(i in data for i in parts) and Path(file).name == file:
                (root / file).write_bytes(b"".join(data[i] for i in parts))
        if not (root / "config.json").is_file():
            raise AttestationFailed("the opening does not open config.json, which every recomputation needs")
        config = ModelConfig.from_file(root / "config.json")
        yield Checkpoint(root, config, _Opened(commitment.leaves, data), adapter_for(config.model_type))


def _recompute(ckpt: Checkpoint, methods: Sequence[str]) -> dict[str, Any]:
    from ..methods import get_method

    out = {}
    with uncached():
        for name in methods:
            method = get_method(name)
            try:
                out[name] = method.fingerprint(ckpt, method.default_config())
            except MissingTensor as exc:
                raise AttestationFailed(f"{name} cannot be recomputed from the opening: {exc}") from None
    return out


def _compare(method: str, published: Any, recomputed: Any) -> None:
    for f in fields(published):
        if f.name in PROVENANCE_FIELDS:  # where and when it was computed is no part of what
            continue
        a, b = getattr(published, f.name), getattr(recomputed, f.name)
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                diff = float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.shape == b.shape \
                    else math.inf
                raise AttestationFailed(f"{method}: field {f.name!r} of the published fingerprint differs from the "
                                        f"one recomputed from the opened weights (max difference {diff:.3g})")
        elif not _same(a, b):
            raise AttestationFailed(f"{method}: field {f.name!r} is {a!r} in the bundle, {b!r} from the opened weights")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
