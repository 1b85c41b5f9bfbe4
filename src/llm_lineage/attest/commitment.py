r"""A hiding commitment to a model's weights: a salted Merkle tree over fixed-size chunks.

Leaves, in a fixed order (config and tokenizer files, then every tensor by name; a 2-D tensor is
cut into runs of whole rows of at most ``chunk_bytes``, anything else into byte runs)::

    leaf_i = sha256(0x00 || salt_i || json(layout_i) || chunk bytes)
    node   = sha256(0x01 || left || right)          (an odd node at the end moves up unpaired)
    salt_i = HMAC-SHA256(secret, "leaf" || i)       (32 bytes; the secret stays with the owner)

``layout_i`` (canonical JSON: tensor name, stored dtype, shape, which rows or bytes) is public:
it says what the model looks like, never what it holds. The root is the commitment. Opening leaf
i reveals its salt, bytes and Merkle path; without its salt an unopened chunk cannot be guessed
even when its content is nearly known (the hiding property of a salted hash commitment), and
binding follows from sha256's collision resistance. The 0x00/0x01 prefixes keep a leaf from
passing for an inner node (RFC 6962, section 2.1).

Streaming: one chunk is read, hashed and dropped at a time; what stays in memory is 32 bytes per
leaf (a 7B model in 4 MiB chunks: about 3,500 leaves, 110 KB).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, UnsupportedFormat
from ..weights import Checkpoint
from ..weights.stores import SafetensorsStore

FORMAT = "llm-lineage-commitment/1"
CHUNK_BYTES = 4 << 20
FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model")


@dataclass(frozen=True)
class Leaf:
    """What one leaf commits to (public), without its bytes or salt."""

    kind: str                      # "tensor" or "file"
    name: str                      # tensor key, or file name
    dtype: str
    shape: tuple[int, ...]
    offset: int                    # first byte within the tensor or file
    length: int                    # bytes
    rows: tuple[int, int] | None   # [start, stop) for row runs of a 2-D tensor

    def layout(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Commitment:
    root: str                      # hex sha256: the public commitment
    chunk_bytes: int
    leaves: tuple[Leaf, ...]

    @property
    def total_bytes(self) -> int:
        return sum(leaf.length for leaf in self.leaves)

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "hash": "sha256", "root": self.root, "chunk_bytes": self.chunk_bytes,
                "total_bytes": self.total_bytes, "leaves": [asdict(leaf) for leaf in self.leaves]}

    @classmethod
    def from_dict(cls, data: Any) -> Commitment:
        from ..errors import KeyFileError

        try:
            if data.get("format") != FORMAT:
                raise KeyFileError(f"not a commitment of format {FORMAT} (format: {data.get('format')!r})")
            leaves = tuple(Leaf(str(x["kind"]), str(x["name"]), str(x["dtype"]), tuple(int(d) for d in x["shape"]),
                                int(x["offset"]), int(x["length"]),
                                None if x["rows"] is None else (int(x["rows"][0]), int(x["rows"][1])))
                           for x in data["leaves"])
            return cls(str(data["root"]), int(data["chunk_bytes"]), leaves)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise KeyFileError(f"malformed commitment ({type(exc).__name__}: {exc})") from None


def layout(ckpt: Checkpoint, chunk_bytes: int = CHUNK_BYTES) -> list[Leaf]:
    """The leaves of ``ckpt`` in commitment order (safetensors checkpoints: their stored bytes)."""
    store = ckpt.store
    if not isinstance(store, SafetensorsStore):
        raise UnsupportedFormat(f"{ckpt.path}: commitments are made over safetensors bytes; this checkpoint is "
                                f"{type(store).__name__.removesuffix('Store')}",
                                hint="convert it to safetensors first (save_pretrained)")
    if chunk_bytes < 1024:
        raise InputError(f"chunk size must be at least 1024 bytes, got {chunk_bytes}")
    leaves: list[Leaf] = []
    root = ckpt.path if ckpt.path.is_dir() else ckpt.path.parent
    for name in FILES:
        if (root / name).is_file():
            size = (root / name).stat().st_size
            leaves += [Leaf("file", name, "bytes", (size,), o, min(chunk_bytes, size - o), None)
                       for o in range(0, max(size, 1), chunk_bytes)]
    for key in sorted(store.keys()):
        shape, dtype, nbytes = store.shape(key), store.dtype(key), store.nbytes(key)
        if len(shape) == 2 and shape[0] > 0 and nbytes:
            row_bytes = nbytes // shape[0]
            per = max(1, chunk_bytes // max(row_bytes, 1))
            leaves += [Leaf("tensor", key, dtype, shape, r * row_bytes, (min(r + per, shape[0]) - r) * row_bytes,
                            (r, min(r + per, shape[0]))) for r in range(0, shape[0], per)]
        else:
            leaves += [Leaf("tensor", key, dtype, shape, o, min(chunk_bytes, nbytes - o), None)
                       for o in range(0, max(nbytes, 1), chunk_bytes)]
    return leaves


def chunk(ckpt: Checkpoint, leaf: Leaf) -> bytes:
    """The bytes a leaf commits to, read from the checkpoint."""
    if leaf.kind == "file":
        root = ckpt.path if ckpt.path.is_dir() else ckpt.path.parent
        with (root / leaf.name).open("rb") as fh:
            fh.seek(leaf.offset)
            return fh.read(leaf.length)
    store = ckpt.store
    assert isinstance(store, SafetensorsStore)  # layout() refused anything else
    return store.raw(leaf.name, leaf.offset, leaf.length)


def salt(secret: bytes, index: int) -> bytes:
    return hmac.new(secret, b"leaf" + index.to_bytes(8, "big"), hashlib.sha256).digest()


def leaf_hash(leaf: Leaf, leaf_salt: bytes, data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_salt + leaf.layout() + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first; an odd last node moves up unpaired."""
    if not leaf_hashes:
        raise InputError("nothing to commit to: the checkpoint holds no tensors")
    out = [list(leaf_hashes)]
    while len(out[-1]) > 1:
        level = out[-1]
        out.append([node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                    for i in range(0, len(level), 2)])
    return out


def path(tree: list[list[bytes]], index: int) -> list[tuple[str, str]]:
    """Merkle path of leaf ``index``: (side of the sibling, its hex hash) from the leaf up."""
    out = []
    for level in tree[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            out.append(("left" if sibling < index else "right", level[sibling].hex()))
        index //= 2
    return out


def root_from_path(leaf: bytes, merkle_path: Sequence[Sequence[str]]) -> bytes:
    node = leaf
    for side, sibling in merkle_path:
        other = bytes.fromhex(sibling)
        node = node_hash(other, node) if side == "left" else node_hash(node, other)
    return node


def commit(ckpt: Checkpoint, secret: bytes, *, chunk_bytes: int = CHUNK_BYTES,
           progress: bool = False) -> tuple[Commitment, list[list[bytes]]]:
    """The commitment and its tree (kept only by the owner, to open leaves later)."""
    from ..progress import track

    leaves = layout(ckpt, chunk_bytes)
    indexed: Iterator[tuple[int, Leaf]] = iter(enumerate(leaves))
    if progress:
        indexed = iter(track(list(enumerate(leaves)), f"committing to {ckpt.name}"))
    hashes = [leaf_hash(leaf, salt(secret, i), chunk(ckpt, leaf)) for i, leaf in indexed]
    tree = levels(hashes)
    return Commitment(tree[-1][0].hex(), chunk_bytes, tuple(leaves)), tree


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def load_or_create_secret(path: str | Path) -> bytes:
    """The commitment secret kept at ``path`` (hex), created there (mode 0600) when missing."""
    import os
    import secrets

    path = Path(path)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_bytes(32).hex() + "\n")
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a commitment secret (hex) ({exc})") from None
    if len(secret) < 16:
        raise InputError(f"{path}: a commitment secret needs at least 16 bytes, it holds {len(secret)}")
    return secret
