"""Options of the parameter cosine similarity baseline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PCSConfig:
    """
    Parameters
    ----------
    include_vectors : bool
        Also pair 1-D tensors (norm gains, biases). Off by default: gains sit near 1 in every
        model, and at small hidden sizes their mass alone would push unrelated pairs towards 1.
    alpha : float
        p-value below which the verdict is ``derived``.
    cache : bool
        Keep null scores on disk under ``$LLM_LINEAGE_CACHE``.
    """

    include_vectors: bool = False
    alpha: float = 0.01
    cache: bool = True
