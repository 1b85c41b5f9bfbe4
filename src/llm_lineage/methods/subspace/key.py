r"""The owner key: an orthonormal basis of span([W_T, b_T, 1]) over a recorded token subset T.

Every logit vector the owner's model produces is ``W z (+ b)``; log-probs add a constant. On a
token subset T the same holds row-wise, ``s_T = W_T z + b_T + c 1``, so the key keeps only T and
an orthonormal basis Q of the column space of ``[W_T, b_T, 1]`` (float64, from an SVD), never the
whole vocabulary. A basis is what the tests need, and it says nothing about W beyond its column
space, which an owner may publish more readily than the weights.

Default size of T: ``min(vocab_size, 2 * hidden_size + 64)``. The compatibility test needs
``|T| > hidden_size + 1``; the alignment test needs room outside span(W) for every extra
dimension an unrelated model brings (about its hidden size) plus a noise tail to find the gap
in, hence ``|T| - (hidden_size + 1) >= hidden_size + 63``. T is a seeded random subset, sorted,
so that it is reproducible and not biased towards the (often special or byte) low ids.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ... import corpus
from ...errors import CorruptCheckpoint, InputError, KeyFileError
from ...weights import Checkpoint, open_checkpoint
from .. import fingerprint_io


@dataclass(frozen=True, eq=False)  # array fields: compare keys field by field
class SubspaceKey:
    """What verification needs from the owner's lm_head, and where it came from."""

    model_name: str
    hidden_size: int
    vocab_size: int
    tokenizer_hash: str | None
    token_ids: np.ndarray   # (n_tokens,) int64: T, sorted
    basis: np.ndarray       # (n_tokens, rank) float64: orthonormal basis of span([W_T, b_T, 1])
    singular_values: np.ndarray  # (rank,) of [W_T, b_T, 1]: how well-conditioned the span is
    n_tokens: int
    rank: int
    has_bias: bool
    tie_word_embeddings: bool
    dtype: str              # storage dtype of lm_head in the owner's checkpoint
    token_seed: int
    created: str            # ISO-8601 UTC
    # W_T as stored (float32 holds every 8/16/32-bit float and GGUF value exactly): the exact tests
    # at redistribution precisions (:mod:`.precisions`) quantise these rows as a copy would
    head_rows: np.ndarray | None = None
    prompt_set: str = ""    # version of the prompts keys of this version ask (corpus.PROMPT_SET)
    token_strings: tuple[str, ...] = ()  # the tokenizer's piece for each id of T: maps a changed vocabulary

    def validate(self) -> str | None:
        """What is wrong with a key read from a file (None: nothing): sizes, shapes, finiteness."""
        n, rank = self.n_tokens, self.rank
        if min(self.hidden_size, self.vocab_size, n, rank) < 1:
            return "hidden_size, vocab_size, n_tokens and rank must be at least 1"
        if self.token_ids.shape != (n,) or self.token_ids.dtype.kind not in "iu":
            return f"token_ids has shape {self.token_ids.shape} ({self.token_ids.dtype}), not ({n},) integers"
        if self.token_ids.min() < 0 or self.token_ids.max() >= self.vocab_size:
            return f"token_ids fall outside the vocabulary of {self.vocab_size}"
        if self.basis.shape != (n, rank) or self.singular_values.shape != (rank,):
            return (f"basis {self.basis.shape} and singular_values {self.singular_values.shape} do not match "
                    f"n_tokens {n} and rank {rank}")
        if rank > n or not (np.isfinite(self.basis).all() and np.isfinite(self.singular_values).all()):
            return "basis or singular_values hold NaN or inf, or the rank exceeds the tokens"
        if self.head_rows is not None and (self.head_rows.shape != (n, self.hidden_size)
                                           or not np.isfinite(self.head_rows).all()):
            return f"head_rows has shape {self.head_rows.shape}, not ({n}, {self.hidden_size}) finite values"
        if self.token_strings and len(self.token_strings) != n:
            return f"{len(self.token_strings)} token_strings for {n} tokens"
        return None

    def restrict(self, token_ids: np.ndarray) -> tuple[np.ndarray, int]:
        """Orthonormal basis of span([W_T', b_T', 1]) for a subset T' of T, and its rank."""
        basis, singular_values = self.frame(token_ids)
        return basis, len(singular_values)

    def frame(self, token_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``U`` and ``S`` of the SVD ``[W_T', b_T', 1] = U S V^T`` for a subset T' of T.

        Rows of ``[W_T, b_T, 1]`` are rows of ``Q S`` times ``V^T``, an orthogonal factor, so the
        subset's left singular vectors and singular values come from ``Q[T'] S`` without W itself.
        """
        if len(token_ids) == self.n_tokens and np.array_equal(token_ids, self.token_ids):
            return self.basis, self.singular_values
        index = {int(t): j for j, t in enumerate(self.token_ids)}
        missing = [int(t) for t in token_ids if int(t) not in index]
        if missing:
            raise InputError(f"token {missing[0]} is not in the key of {self.model_name}")
        rows = self.basis[[index[int(t)] for t in token_ids]] * self.singular_values
        u, s, _ = np.linalg.svd(rows, full_matrices=False)
        rank = _numerical_rank(s, rows.shape)
        return u[:, :rank], s[:rank]


def default_n_tokens(hidden_size: int, vocab_size: int) -> int:
    return int(min(vocab_size, 2 * hidden_size + 64))


def orthonormal_basis(matrix: np.ndarray) -> tuple[np.ndarray, int]:
    """Left singular vectors of the numerically non-zero singular values (numpy's rank rule)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    u, s, _ = np.linalg.svd(matrix, full_matrices=False)
    rank = _numerical_rank(s, matrix.shape)
    return u[:, :rank], rank


def _numerical_rank(singular_values: np.ndarray, shape: tuple[int, ...]) -> int:
    tol = singular_values[0] * max(shape) * np.finfo(np.float64).eps if len(singular_values) else 0.0
    return int(np.sum(singular_values > tol))


def owner_key(ckpt: Checkpoint, *, n_tokens: int | None = None, token_seed: int = 0) -> SubspaceKey:
    """Build the owner key from a checkpoint's ``lm_head`` (tied embeddings and a bias handled).

    Parameters
    ----------
    ckpt : the owner's checkpoint (``weights.open_checkpoint``).
    n_tokens : size of T; default :func:`default_n_tokens`. Must exceed ``hidden_size + 1``
        (+1 more with a bias) for the test to have any power.
    token_seed : seed of the subset choice, recorded in the key.
    """
    hidden = int(ckpt.config.hidden_size)
    vocab = int(ckpt.shape("lm_head")[0])  # padded vocabularies: the rows are what the model scores
    has_bias = ckpt.has("lm_head.bias")
    n = default_n_tokens(hidden, vocab) if n_tokens is None else int(n_tokens)
    if not hidden + 2 + has_bias <= n <= vocab:
        raise InputError(f"n_tokens must be between {hidden + 2 + has_bias} and {vocab} for {ckpt.name} "
                         f"(hidden_size {hidden}); got {n}")
    rng = np.random.default_rng(token_seed)
    tokens = np.arange(vocab) if n == vocab else np.sort(rng.choice(vocab, size=n, replace=False))
    # 1. the columns whose span holds every output on T: W_T, the bias, the log-prob constant;
    # only the rows of T are read (a 256K x 8192 head is 8 GB in float32)
    rows = ckpt.rows("lm_head", tokens, dtype=np.float32)
    columns = [rows.astype(np.float64)]
    if has_bias:
        columns.append(ckpt.tensor("lm_head.bias", dtype=np.float64)[tokens, None])
    columns.append(np.ones((n, 1)))
    stacked = np.hstack(columns)
    # 2. an orthonormal basis (SVD, float64): residuals then need no normal equations
    basis, rank = orthonormal_basis(stacked)
    singular = np.linalg.svd(stacked, compute_uv=False)[:rank]
    if rank < min(hidden, n) // 2:  # a trained head has full rank hidden (+1) on T
        raise CorruptCheckpoint(f"{ckpt.name}: the lm_head has rank {rank} on the key's {n} tokens, far below "
                                f"its hidden size {hidden} (all-zero or repeated rows): no key can be built from it")
    dtype = _lm_head_dtype(ckpt)
    return SubspaceKey(
        model_name=ckpt.name, hidden_size=hidden, vocab_size=vocab, tokenizer_hash=ckpt.tokenizer_hash(),
        token_ids=tokens.astype(np.int64), basis=basis, singular_values=singular, n_tokens=n, rank=rank,
        has_bias=bool(has_bias), tie_word_embeddings=bool(ckpt.config.tie_word_embeddings), dtype=dtype,
        token_seed=int(token_seed), created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        head_rows=rows, prompt_set=corpus.PROMPT_SET, token_strings=_strings(ckpt, tokens))


def _strings(ckpt: Checkpoint, tokens: np.ndarray) -> tuple[str, ...]:
    from ..huref.tokens import vocabulary

    strings, _ = vocabulary(ckpt)
    if strings is None or len(strings) <= int(tokens.max()):
        return ()
    return tuple(strings[int(t)] for t in tokens)


def _lm_head_dtype(ckpt: Checkpoint) -> str:
    for info in ckpt.roles():
        if info.role == "lm_head" and info.layer is None:
            return info.dtype
    for info in ckpt.roles():  # tied: the embedding is the head
        if info.role == "embed_tokens" and info.layer is None:
            return info.dtype
    return "unknown"


def fingerprint(ckpt: Checkpoint, config: object | None = None) -> SubspaceKey:
    """The registry's ``fingerprint`` hook: the owner key with default options."""
    return owner_key(ckpt)


def load_owner(owner: SubspaceKey | str | Path) -> SubspaceKey:
    """A key object, a key file written by ``llm-lineage fingerprint``, or an owner model path."""
    if isinstance(owner, SubspaceKey):
        return owner
    path = Path(owner).expanduser()
    if path.is_file() and (fingerprint_io.is_fingerprint_file(path) or _has_fingerprint_metadata(path)):
        fingerprints, _ = fingerprint_io.load(path)
        key = fingerprints.get("subspace")
        if not isinstance(key, SubspaceKey):
            raise KeyFileError(f"{path} holds no subspace key (it has: {', '.join(fingerprints) or 'nothing'})",
                               hint="write one with `llm-lineage fingerprint OWNER_MODEL -o KEYFILE`")
        return key
    return owner_key(open_checkpoint(path))


def _has_fingerprint_metadata(path: Path) -> bool:
    """A fingerprint .safetensors copied without its .json still says what it is in its metadata."""
    if path.suffix != ".safetensors":
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            return "llm_lineage" in (handle.metadata() or {})
    except Exception:  # not a readable safetensors file: let the checkpoint reader explain
        return False
