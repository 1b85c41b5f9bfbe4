"""Options of the aligned-weights CKA method (``awm``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AWMConfig:
    """
    Parameters
    ----------
    n_permutations : int
        Random head permutations of the exact test; its smallest p-value is ``1 / (n + 1)``.
    max_rows : int
        Residual coordinates (rows of the forms) sampled as CKA's samples, seeded: bounds the
        Gram matrices at ``max_rows^2`` for 7B-sized models.
    n_tokens : int
        Token rows (shared token strings when the tokenizers differ) behind the Procrustes alignment.
    alpha : float
        p-value below which the verdict is ``derived``.
    unrelated_above : float
        p-value above which the verdict is ``unrelated``; in between, ``inconclusive``.
    seed : int
        Seeds the permutations.
    """

    n_permutations: int = 999
    max_rows: int = 512
    n_tokens: int = 8192
    alpha: float = 0.01
    unrelated_above: float = 0.1
    seed: int = 0
