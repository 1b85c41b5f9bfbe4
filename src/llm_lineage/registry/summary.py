r"""Compact summary vectors: the registry's shortlist step, and what a model's provenance records.

A summary vector is cheap to store (a few KB a model) and to compare (one matrix product against
every registered model), so a search against N models costs O(N) small dot products before any
method's full comparison runs on the shortlist.

For a fixed set S of m token ids, take the rows of the input embedding ``embed_tokens`` (or
``lm_head`` when there is none), normalise each row, and keep the off-diagonal entries of their
cosine-similarity matrix::

    E_S = embed_tokens[S] / ||embed_tokens[S]||_row      (m, hidden_size)
    G   = E_S E_S^T                                      (m, m)
    v   = upper_triangle(G, k=1)                         (m (m - 1) / 2,)

``G`` is unchanged by any orthogonal transform of the hidden dimension (permutations and
rotations included) and by per-token scaling, the re-parameterisations a thief can apply for free;
fine-tuning moves it little. Two summaries are compared by their Pearson correlation: a model and
its descendants sit near 1, models trained from different initialisations near 0 (their shared
training data gives some small positive correlation, which the registry's null absorbs).

The token set depends only on the vocabulary size the owner was registered with, so a suspect with
an extended vocabulary is still compared on the owner's ids. Models whose vocabularies do not reach
those ids cannot be summarised against that owner.

The Gram-matrix invariant is the one HuRef builds on.

References
----------
.. [1] B. Zeng et al., "HuRef: HUman-REadable Fingerprint for Large Language Models", NeurIPS 2024.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..errors import MissingTensor
from ..weights import Checkpoint

N_TOKENS = 64
SEED = 20240701  # fixed: every registry and every suspect must draw the same ids for a vocabulary size


@dataclass(frozen=True)
class Summary:
    """One model's summary against one token-id set."""

    token_ids: np.ndarray  # (m,) int64, sorted
    vector: np.ndarray     # (m (m - 1) / 2,) float32, centred and unit-norm
    role: str              # "embed_tokens" or "lm_head"

    @property
    def ids_key(self) -> str:
        return token_ids_key(self.token_ids)


def token_ids_for(vocab_size: int, n_tokens: int = N_TOKENS) -> np.ndarray:
    """The m token ids summarised for a vocabulary of ``vocab_size``; deterministic.

    >>> bool((token_ids_for(512) == token_ids_for(512)).all())
    True
    """
    m = min(n_tokens, vocab_size)
    rng = np.random.default_rng(SEED)
    return np.sort(rng.choice(vocab_size, size=m, replace=False)).astype(np.int64)


def token_ids_key(token_ids: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(token_ids, dtype=np.int64).tobytes()).hexdigest()[:16]


def embedding_rows(ckpt: Checkpoint) -> tuple[np.ndarray, str]:
    """The matrix summaries are drawn from: ``embed_tokens``, else ``lm_head``."""
    for role in ("embed_tokens", "lm_head"):
        if ckpt.has(role):
            return ckpt.tensor(role), role
    raise MissingTensor(f"{ckpt.path} has neither embed_tokens nor lm_head to summarise")


def summarise(rows: np.ndarray, token_ids: np.ndarray, role: str = "embed_tokens") -> Summary:
    """Summary vector of ``rows[token_ids]`` (see the module docstring for the formula).

    >>> rng = np.random.default_rng(0)
    >>> rows = rng.normal(size=(100, 16))
    >>> q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    >>> ids = token_ids_for(100, 20)
    >>> a, b = summarise(rows, ids), summarise(rows @ q * 3.0, ids)
    >>> bool(np.isclose(float(a.vector @ b.vector), 1.0, atol=1e-5))
    True
    """
    token_ids = np.asarray(token_ids, dtype=np.int64)
    sub = np.asarray(rows[token_ids], dtype=np.float64)
    norms = np.linalg.norm(sub, axis=1, keepdims=True)
    sub = sub / np.where(norms > 0, norms, 1.0)
    gram = sub @ sub.T
    upper = gram[np.triu_indices(len(token_ids), k=1)]
    # Pearson, not cosine: trained embeddings share an anisotropy that would correlate strangers
    upper = upper - upper.mean()
    norm = np.linalg.norm(upper)
    vector = (upper / norm if norm > 0 else upper).astype(np.float32)
    return Summary(token_ids, vector, role)


def summary_of(ckpt: Checkpoint) -> Summary:
    """The summary a model is registered with (ids from its own vocabulary size)."""
    rows, role = embedding_rows(ckpt)
    return summarise(rows, token_ids_for(rows.shape[0]), role)


def correlations(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Pearson correlation of one summary with each row of ``vectors`` (both already centred, unit)."""
    if len(vectors) == 0:
        return np.zeros(0)
    return np.clip(vectors.astype(np.float32) @ query.astype(np.float32), -1.0, 1.0).astype(np.float64)
