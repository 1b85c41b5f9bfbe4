"""Options of the std-profile fingerprint."""

from __future__ import annotations

from dataclasses import dataclass

# the four attention projections the score averages over, in the paper's order
PROJECTIONS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
# extra per-layer profiles, reported but never part of the score: biases and attention norms
EXTRA_ROLES: tuple[str, ...] = ("q_proj.bias", "k_proj.bias", "v_proj.bias", "o_proj.bias",
                                "attn_norm", "attn_norm.bias", "q_norm", "k_norm")


@dataclass(frozen=True)
class StdProfileConfig:
    """How profiles are read and how a score becomes a verdict.

    Parameters
    ----------
    extras : bool
        Also profile biases and attention-norm weights where every layer has them.
    alpha : float
        A suspect is ``derived`` when its p-value against the null is below ``alpha``.
    unrelated_above : float
        ... and ``unrelated`` when the p-value is above this; in between, ``inconclusive``.
    null_models : tuple of str
        Checkpoints unrelated to the owner (same shape and recipe where possible) whose scores
        against the owner form the null distribution. Empty: :func:`verify` asks
        ``llm_lineage.stats.nulls.reference_models`` for ``n_reference`` of them.
    n_reference : int
        How many reference models to ask for when ``null_models`` is empty.
    min_layers : int
        Fewest layers (after interpolation) for which a Pearson correlation means anything:
        over two points it is always +-1.
    """

    extras: bool = True
    alpha: float = 0.01
    unrelated_above: float = 0.1
    null_models: tuple[str, ...] = ()
    n_reference: int = 4
    min_layers: int = 3
