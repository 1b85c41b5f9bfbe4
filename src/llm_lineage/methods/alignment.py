"""One residual basis for two models: orthogonal Procrustes on the embeddings of shared token strings.

A function-preserving attack may rotate (or permute, or flip the signs of) the whole residual
stream; the embedding rows of the same token strings move with it, so the orthogonal map between
the two models' embeddings undoes it. Methods that compare residual-space weights (``tracing``,
``awm``) read a suspect's input-side weight rows ``w`` as ``w @ R`` in the owner's basis.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ..errors import VocabularyMismatch
from ..weights import Checkpoint


def residual_alignment(owner: Checkpoint, suspect: Checkpoint, n_tokens: int) -> tuple[np.ndarray, int, float]:
    """``R`` (suspect hidden x owner hidden, orthonormal columns or rows) with ``E_suspect R ~ E_owner``.

    The token rows are the same strings on both sides (all shared ids for one tokenizer).
    """
    from .huref.tokens import shared_token_ids

    same = owner.tokenizer_hash() == suspect.tokenizer_hash() and owner.config.vocab_size == suspect.config.vocab_size
    if same:
        n = min(owner.config.vocab_size, n_tokens)
        ids_owner = ids_suspect = np.unique(np.linspace(0, owner.config.vocab_size - 1, n).astype(np.int64))
    else:
        ids_owner, ids_suspect = shared_token_ids(owner, suspect, n_tokens)
    if len(ids_owner) < 8:
        raise VocabularyMismatch(f"{owner.path} and {suspect.path} share {len(ids_owner)} token strings: too few "
                                 "to align their residual streams")
    # float32 throughout (8192 x 4096 rows at 7B: 134 MB each): the float64 SVD of the 4096^2
    # product peaked at 1.6 GB, float32 at about 0.5 GB
    e_owner = owner.rows("embed_tokens", ids_owner, dtype=np.float32)
    e_suspect = suspect.rows("embed_tokens", ids_suspect, dtype=np.float32)
    rotation, residual = procrustes(e_owner, e_suspect)
    return rotation, len(ids_owner), residual


def procrustes(e_owner: np.ndarray, e_suspect: np.ndarray) -> tuple[np.ndarray, float]:
    """``(R, relative residual)``: the orthogonal map taking the suspect's rows onto the owner's (in place:
    both are centred; scale does not matter for a rotation, centring removes the shared mean direction)."""
    e_owner -= e_owner.mean(axis=0)
    e_suspect -= e_suspect.mean(axis=0)
    u, _, vt = scipy.linalg.svd(e_suspect.T @ e_owner, full_matrices=False, lapack_driver="gesdd",
                                overwrite_a=True, check_finite=False)
    rotation = u @ vt
    del u, vt
    fitted = e_suspect @ rotation
    scale = float(np.sum(fitted * e_owner)) / max(float(np.sum(fitted * fitted)), 1e-300)
    residual = float(np.linalg.norm(scale * fitted - e_owner)) / max(float(np.linalg.norm(e_owner)), 1e-300)
    return rotation, residual
