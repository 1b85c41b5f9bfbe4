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
    min_layers : int
        Fewest layers (after interpolation) for which a Pearson correlation means anything:
        over two points it is always +-1.
    """

    extras: bool = True
    alpha: float = 0.01
    unrelated_above: float = 0.1
    min_layers: int = 3
