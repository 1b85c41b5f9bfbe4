r"""How far the suspect's lm_head is from the owner's: ``W' = W + E``, in words a user can weigh.

A copy that was quantised, pruned or briefly tuned answers with ``s_i = W' h_i + c`` where ``W'``
is the owner's lm_head plus a perturbation ``E``. Only ``E h_i`` leaves span([W, 1]); for an ``E``
whose entries are independent of ``W`` with root-mean-square ``eps * rms(W)`` (rounding to a grid,
small dense updates), the part outside the span has expected squared norm
``m * eps^2 * rms(W)^2 * ||h_i||^2`` on the ``m`` dimensions the span leaves free. The key knows
``||h_i||``: its singular values turn the in-span part of ``s_i`` back into coordinates of
``[W_T, 1]``. So, per output, after removing the precision floor ``m * sigma_i^2``::

    eps_i = sqrt(||P s_i||^2 - m sigma_i^2) / (sqrt(m) * rms(W_T) * ||x_i||),   x_i = S^-1 U^T s_i

and the estimate is the median over outputs: the relative root-mean-square change of the lm_head.
It is an estimate, not a test: the verdict's p-value comes from the language-model null
(:mod:`.lm_null`). The estimate is compared with the error of round-to-nearest quantisation with
``bits`` per weight in symmetric groups of 32 (llama.cpp's Q8_0/Q4_0, GPTQ/AWQ group sizes) on
Gaussian weights, ``E[step^2]/12`` with ``step = max_group |w| / (2^(bits-1) - 1)``.

Measured on ``stories260k``, whose third-party Q8_0 copy changed the tied lm_head by 0.55%, the
estimate reads low: 0.43%, and 1.7/3.5/6.4/11% for group-32 quantisation to 6/5/4/3 bits whose
true errors are 2.1/4.6/10.3/23%. Hidden states have large components along directions the head
barely expresses, which the estimate cannot see. On an unstructured head it is unbiased (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import integrate
from scipy import stats as sps

GROUP = 32
BITS = (8, 6, 5, 4, 3)
CONDITION = 0.02  # directions of [W_T, 1] weaker than this share of the largest are not read


@dataclass(frozen=True)
class Perturbation:
    """The suspect's lm_head against the owner's, as a relative change and in quantisation terms."""

    relative_change: float       # estimated rms(E) / rms(W); 0 when within the precision floor
    bits_equivalent: int | None  # the quantisation whose error matches it best (None: beyond 2 bits)
    description: str


@cache
def quantisation_error(bits: int, group: int = GROUP) -> float:
    """Relative rms error of symmetric round-to-nearest quantisation of Gaussian weights.

    >>> round(quantisation_error(8), 4), round(quantisation_error(4), 3)
    (0.0054, 0.099)
    """
    # E[max^2] of |N(0, 1)| over a group: integral of 2x P(max > x)
    def tail(x: float) -> float:
        return 2.0 * x * (1.0 - (2.0 * sps.norm.cdf(x) - 1.0) ** group)

    max_sq = integrate.quad(tail, 0.0, np.inf)[0]
    return math.sqrt(max_sq / 12.0) / (2 ** (bits - 1) - 1)


def estimate(basis: np.ndarray, singular_values: np.ndarray, hidden_size: int, values: np.ndarray,
             noise_sd: np.ndarray) -> Perturbation:
    """The relative lm_head change that explains the outputs' distance to the span (module docstring).

    ``basis`` (n_tokens, rank) and ``singular_values`` (rank,): the SVD ``[W_T, 1] = U S V^T``; V,
    orthogonal, does not change the norm of ``x``.
    """
    values = np.asarray(values, dtype=np.float64)
    n_tokens, rank = basis.shape
    m = n_tokens - rank
    centred = values - values.mean(axis=1, keepdims=True)
    coefficients = centred @ basis
    outside_raw = np.maximum(np.sum(centred ** 2, axis=1) - np.sum(coefficients ** 2, axis=1), 0.0)
    outside = np.maximum(outside_raw - m * np.asarray(noise_sd, dtype=np.float64) ** 2, 0.0)
    # E h and the noise put as much into each in-span coordinate as into each free one (outside
    # / m): a coordinate not clearly above that says nothing about x. Nor does one along a
    # direction the head barely expresses (hidden states are large along directions that shift
    # every logit alike): divided by a tiny singular value it would swamp the rest. Leaving such
    # coordinates out makes ||x|| smaller and eps larger, never smaller.
    per_dim = outside_raw / max(m, 1)
    expressed = singular_values >= CONDITION * singular_values[0]
    clear = (coefficients ** 2 > 4.0 * per_dim[:, None]) & expressed
    x_norm = np.sqrt(np.sum(np.where(clear, coefficients ** 2 - per_dim[:, None], 0.0) / singular_values ** 2, axis=1))
    # ||[W_T, 1]||_F^2 = ||W_T||_F^2 + n_tokens
    rms_w = math.sqrt(max(float(np.sum(singular_values ** 2)) - n_tokens, 0.0) / (n_tokens * hidden_size))
    if m <= 0 or rms_w == 0.0:
        return Perturbation(math.nan, None, "no room outside the span to measure a change")
    with np.errstate(invalid="ignore", divide="ignore"):
        eps = np.sqrt(outside) / (math.sqrt(m) * rms_w * x_norm)
    return describe(float(np.nanmedian(eps)))


def describe(relative_change: float) -> Perturbation:
    """Words for an estimated relative lm_head change."""
    if not math.isfinite(relative_change):
        return Perturbation(relative_change, None, "lm_head change not measurable")
    finest = quantisation_error(BITS[0])
    if relative_change < finest / 2:
        return Perturbation(relative_change, None, f"lm_head changed by less than {_pct(finest / 2)} "
                            f"(finer than 8-bit quantisation)")
    errors = {bits: quantisation_error(bits) for bits in BITS}
    if relative_change > 2 * errors[BITS[-1]]:
        return Perturbation(relative_change, None, f"lm_head changed by about {_pct(relative_change)} (rms): "
                            f"more than {BITS[-1]}-bit quantisation would")
    bits = min(errors, key=lambda b: abs(math.log(relative_change / errors[b])))
    also = ", or a short fine-tune" if bits > BITS[-1] else ""
    return Perturbation(relative_change, bits, f"lm_head changed by about {_pct(relative_change)} (rms): the "
                        f"size of {bits}-bit quantisation error (groups of {GROUP}){also}")


def _pct(x: float) -> str:
    return f"{100 * x:.2g}%"
