"""Options of the independence test (``tracing``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TracingConfig:
    """
    Parameters
    ----------
    max_units : int
        FFN units of the owner tested per layer: a seeded subset, chosen before looking at either
        model, so validity is unaffected; it bounds the assignment problem (``max_units`` x the
        suspect's units) for 7B-sized layers.
    stored_units : int
        Units per layer a registered fingerprint stores (``registry add``), so that search and the
        family tree run the exact tests without the weights: 80 keeps a 7B model's fingerprint
        under 64 MB and a copy's p-value below 1e-100.
    align_tokens : int
        Embedding rows of the versioned token-string set a fingerprint stores for the alignment.
    screen_units : int
        Owner units per layer in the screen that pairs layers when depths differ (greedy gate/up
        agreement against every suspect unit, no assignment solved).
    n_permutations : int
        Random unit permutations of the exact test; its smallest p-value is ``1 / (n + 1)``.
    n_tokens : int
        Token rows (shared token strings when the tokenizers differ) that align the two residual
        streams by orthogonal Procrustes.
    alpha : float
        p-value below which the verdict is ``derived``.
    unrelated_above : float
        p-value above which the verdict is ``unrelated``; in between, ``inconclusive``.
    max_alignment_residual : float
        Relative Procrustes residual of the embeddings above which the residual streams align as
        poorly as unrelated models' (0.87-0.98 measured): never ``derived`` there.
    seed : int
        Seeds the unit subset and the permutations.
    """

    max_units: int = 1024
    stored_units: int = 80
    align_tokens: int = 2048
    screen_units: int = 128
    n_permutations: int = 999
    n_tokens: int = 8192
    alpha: float = 0.01
    unrelated_above: float = 0.1
    max_alignment_residual: float = 0.6
    seed: int = 0
