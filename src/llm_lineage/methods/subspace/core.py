r"""The two tests of the logit-subspace fingerprint, in NumPy: compatibility and alignment.

Given the owner key (an orthonormal basis Q of span([W_T, b_T, 1]), rank r, over |T| tokens)
and a suspect's evidence (N output vectors s_i on T, each up to a constant, with a precision
``noise_sd[i]`` per coordinate), with ``m = |T| - r`` the dimension left outside the span:

* **Compatibility.** Per output the relative distance to the span::

      r_i = ||s_i - Q Q^T s_i||_2 / ||s_i - mean(s_i)||_2

  A derived suspect's residual is only its rounding noise projected on m dimensions,
  ``||P e|| ~ sigma_i sqrt(chi2_m)``; so an output is *within noise* when ``r_i <= tau_i`` with
  ``tau_i = margin * sigma_i * sqrt(chi2_{m, 1-alpha}) / ||s_i - mean||``. Under the null of a
  random vector of the same shape ``r_i^2 ~ Beta(m/2, (r-1)/2)`` (exactly, for isotropic Gaussian
  vectors), which gives the per-output false-positive rate ``p0 = P(Beta <= tau^2)`` and, for k of
  N outputs within noise, the p-value ``P(Binomial(N, p0) >= k)``.
* **Alignment.** Stack the N residuals, each divided by its noise sd (the noise becomes white
  with unit variance), and take the singular values. Pure noise on m x N stays below the
  Marchenko-Pastur edge ``sqrt(m) + sqrt(N)``; every singular value above ``margin`` times the
  edge is one more dimension the suspect needs beyond span(W): a merged lm_head LoRA of rank k
  needs k, an unrelated model about its hidden size. The null (outputs of random heads of the
  suspect's estimated width, same shape and scale) is simulated and calibrated with
  :mod:`llm_lineage.stats`.
* **Hidden size.** The same count on the suspect's centred outputs alone estimates its width.

References
----------
.. [1] Z. Yang, H. Wu, "A Fingerprint for Large Language Models", arXiv:2407.01235, 2024.
.. [2] V. A. Marchenko, L. A. Pastur, "Distribution of eigenvalues for some sets of random
   matrices", Math. USSR-Sbornik 1, 1967 (the noise edge of a random matrix's spectrum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ...stats import calibrate


@dataclass(frozen=True)
class Compatibility:
    """Per-output distances to span([W, 1]) against the precision floor and a random-vector null."""

    residuals: tuple[float, ...]   # r_i, one per output
    median_residual: float
    max_residual: float
    noise_floor: float             # median of sigma_i sqrt(m) / ||s_i||: a derived suspect's residual
    threshold: float               # median tau_i: largest residual counted as within noise
    n_within: int                  # outputs with r_i <= tau_i
    false_positive_rate: float     # P(random output within noise), per output
    null_median_residual: float    # what a random vector of this shape gives (median)
    p_value: float                 # P(at least n_within random outputs within noise)
    compatible: bool


@dataclass(frozen=True)
class Alignment:
    """How many dimensions the suspect's outputs need beyond span([W, 1])."""

    extra_dimensions: int
    hidden_size: int               # the owner's: "small" is against this
    max_extra: int                 # derived when extra_dimensions <= max_extra
    feasible: bool                 # min(m, N) and the null's count exceed max_extra: an unrelated
                                   # model could show itself
    spectrum: tuple[float, ...]    # singular values of the whitened residual stack (noise units)
    noise_edge: float              # margin * (sqrt(m) + sqrt(N)) in the same units
    gap: float                     # spectrum[d-1] / spectrum[d] at the cut (inf if nothing left)
    null_extra_dimensions: float   # mean count for random stacks of the same shape
    false_positive_rate: float     # share of null stacks with at most max_extra dimensions
    p_value: float


@dataclass(frozen=True)
class HiddenSizeEstimate:
    hidden_size: int               # significant singular values of the suspect's centred outputs
    lower_bound: bool              # the count hit min(|T| - 1, N): the true width may be larger
    spectrum: tuple[float, ...]


def residuals(basis: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Relative residuals of outputs against span(basis), computed with the orthonormal basis.

    Parameters
    ----------
    basis : (n_tokens, rank) orthonormal columns whose span contains the constant vector.
    values : (n_outputs, n_tokens) outputs, each up to an additive constant.

    Returns
    -------
    relative : (n_outputs,) ``||P s_i|| / ||s_i - mean(s_i)||``.
    residual : (n_outputs, n_tokens) ``P s_i``, P the projector onto the orthogonal complement.
    norms : (n_outputs,) ``||s_i - mean(s_i)||``.

    Examples
    --------
    The residual does not change when W is replaced by W A for an invertible A:

    >>> rng = np.random.default_rng(0)
    >>> W, A, s = rng.normal(size=(40, 5)), rng.normal(size=(5, 5)), rng.normal(size=(1, 40))
    >>> q1 = np.linalg.qr(np.c_[W, np.ones(40)])[0]
    >>> q2 = np.linalg.qr(np.c_[W @ A, np.ones(40)])[0]
    >>> bool(np.allclose(residuals(q1, s)[0], residuals(q2, s)[0]))
    True
    """
    values = np.asarray(values, dtype=np.float64)
    centred = values - values.mean(axis=1, keepdims=True)
    residual = centred - (centred @ basis) @ basis.T
    norms = np.linalg.norm(centred, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.linalg.norm(residual, axis=1) / norms
    return relative, residual, norms


def null_residual_cdf(x: np.ndarray | float, m: int, rank: int) -> np.ndarray:
    """P(r <= x) for a random Gaussian vector: ``r^2 ~ Beta(m/2, (rank-1)/2)``."""
    x = np.asarray(x, dtype=np.float64)
    if rank <= 1:  # the span is the constant alone: every centred vector lies wholly outside
        return (x >= 1.0).astype(np.float64)
    return sps.beta.cdf(np.clip(x, 0.0, 1.0) ** 2, m / 2.0, (rank - 1) / 2.0)


def compatibility(basis: np.ndarray, rank: int, values: np.ndarray, noise_sd: np.ndarray, *,
                  alpha: float, noise_margin: float) -> tuple[Compatibility, np.ndarray]:
    """The compatibility test; also returns the residual stack for :func:`alignment`."""
    n_tokens = basis.shape[0]
    m = n_tokens - rank
    relative, residual, norms = residuals(basis, values)
    sigma = np.maximum(np.asarray(noise_sd, dtype=np.float64), np.finfo(np.float64).tiny)
    # 1. the precision floor: the residual of pure rounding noise on m dimensions
    floor = sigma * math.sqrt(max(m, 0)) / norms
    tau = noise_margin * sigma * math.sqrt(sps.chi2.ppf(1 - alpha, max(m, 1))) / norms
    within = relative <= tau
    # 2. the random-vector null at the same threshold: chance that an unrelated output passes
    p0 = float(np.max(null_residual_cdf(tau, m, rank))) if m > 0 else 1.0
    k = int(within.sum())
    n = len(relative)
    p_value = float(sps.binom.sf(k - 1, n, p0)) if k > 0 else 1.0
    null_median = float(math.sqrt(sps.beta.ppf(0.5, m / 2.0, (rank - 1) / 2.0))) if m > 0 and rank > 1 else 1.0
    result = Compatibility(
        residuals=tuple(float(x) for x in relative), median_residual=float(np.median(relative)),
        max_residual=float(np.max(relative)), noise_floor=float(np.median(floor)),
        threshold=float(np.median(tau)), n_within=k, false_positive_rate=p0, null_median_residual=null_median,
        p_value=p_value, compatible=bool(m > 0 and 2 * k >= n and p_value < alpha))
    return result, residual / sigma[:, None]


def count_above_noise(matrix: np.ndarray, dim: int, noise_margin: float) -> tuple[int, np.ndarray, float]:
    """Singular values of a whitened (unit-variance noise) N x n matrix whose rows live in ``dim``
    dimensions, and how many exceed ``noise_margin`` times the noise edge ``sqrt(dim) + sqrt(N)``."""
    n_rows = matrix.shape[0]
    edge = noise_margin * (math.sqrt(max(dim, 0)) + math.sqrt(n_rows))
    # eigenvalues of the small Gram matrix: an order of magnitude cheaper than an SVD, and exact
    # enough at the edge while eps * s_max^2 stays far below edge^2; otherwise the SVD
    gram = matrix @ matrix.T if n_rows <= matrix.shape[1] else matrix.T @ matrix
    spectrum = np.sqrt(np.clip(np.linalg.eigvalsh(gram)[::-1], 0.0, None))
    if spectrum.size and spectrum[0] ** 2 * 1e-15 > 1e-3 * edge ** 2:
        spectrum = np.linalg.svd(matrix, compute_uv=False)
    spectrum = spectrum[: max(0, min(dim, n_rows))]
    return int(np.sum(spectrum > edge)), spectrum, edge


def alignment(basis: np.ndarray, whitened_residual: np.ndarray, norms_over_sigma: np.ndarray, *,
              hidden_size: int, suspect_width: int, max_extra_fraction: float, noise_margin: float,
              n_null: int, seed: int) -> Alignment:
    """The alignment test on the whitened residual stack (n_outputs, n_tokens).

    The null is an unrelated model of the suspect's own width: outputs ``G z_i`` with G a random
    Gaussian (n_tokens x suspect_width) head and random z_i, at each output's scale, projected and
    whitened exactly as the suspect's; it needs ``min(suspect_width, m, N)`` extra dimensions.
    """
    n_outputs, n_tokens = whitened_residual.shape
    m = n_tokens - basis.shape[1]
    d, spectrum, edge = count_above_noise(whitened_residual, m, noise_margin)
    max_extra = int(math.floor(max_extra_fraction * hidden_size))
    gap = float(spectrum[d - 1] / spectrum[d]) if 0 < d < len(spectrum) and spectrum[d] > 0 else math.inf
    rng = np.random.default_rng(seed)
    width = max(int(suspect_width), 1)
    counts = []
    for _ in range(n_null):
        outputs = rng.normal(size=(n_outputs, width)) @ rng.normal(size=(width, n_tokens))
        outputs -= outputs.mean(axis=1, keepdims=True)
        outputs *= (norms_over_sigma / np.linalg.norm(outputs, axis=1))[:, None]
        projected = outputs - (outputs @ basis) @ basis.T
        counts.append(count_above_noise(projected, m, noise_margin)[0])
    null = calibrate(counts, higher_is_related=False,
                     source=f"{n_null} random heads of width {width}, {n_outputs} outputs x {n_tokens} tokens")
    fpr = float(np.mean(np.asarray(counts) <= max_extra)) if counts else math.nan
    return Alignment(
        extra_dimensions=d, hidden_size=int(hidden_size), max_extra=max_extra,
        feasible=bool(min(m, n_outputs) > max_extra and (np.mean(counts) if counts else 0) > max_extra),
        spectrum=tuple(float(x) for x in spectrum),
        noise_edge=float(edge), gap=gap, null_extra_dimensions=float(np.mean(counts)) if counts else math.nan,
        false_positive_rate=fpr, p_value=float(null.p_value(d)) if null.n >= 2 else math.nan)


def estimate_hidden_size(values: np.ndarray, noise_sd: np.ndarray, *, noise_margin: float) -> HiddenSizeEstimate:
    """Width of the suspect from its outputs alone: significant singular values of the centred stack.

    The outputs are ``W' z_i`` (+ constant), so their centred stack has rank at most the suspect's
    hidden size (plus one with an lm_head bias); rows are whitened by their noise sd first.
    """
    values = np.asarray(values, dtype=np.float64)
    centred = values - values.mean(axis=1, keepdims=True)
    sigma = np.maximum(np.asarray(noise_sd, dtype=np.float64), np.finfo(np.float64).tiny)
    dim = values.shape[1] - 1
    count, spectrum, _ = count_above_noise(centred / sigma[:, None], dim, noise_margin)
    return HiddenSizeEstimate(count, bool(count >= min(dim, values.shape[0])), tuple(float(x) for x in spectrum))
