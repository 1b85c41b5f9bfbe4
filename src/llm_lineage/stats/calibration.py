r"""Turning a score into a verdict against a null distribution of unrelated pairs.

Every method states which direction means "related" and hands its null scores (owner against
unrelated models, or against random vectors of the right shape) to :func:`calibrate`. The result
gives a p-value for a new score and a threshold at a chosen false-positive rate.

With many null scores the p-value is empirical, ``(1 + #{null >= s}) / (n + 1)``. Nulls of a few
unrelated models cannot reach small p-values that way, so for ``n < 1 / alpha`` the p-value comes
from the Student-t *prediction* interval of one new draw from the null (the honest small-sample
choice: it widens with ``sqrt(1 + 1/n)`` and has ``n - 1`` degrees of freedom)::

    t = (s - mean) / (sd * sqrt(1 + 1/n)),   p = P(T_{n-1} >= t)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy import stats as sps


class Verdict(str, Enum):
    DERIVED = "derived"
    UNRELATED = "unrelated"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class NullCalibration:
    """Null scores for one method and owner, oriented so that larger means more related."""

    scores: tuple[float, ...]
    higher_is_related: bool = True
    source: str = ""  # what the null was built from, for the report
    models: tuple[str, ...] = ()  # the model behind each score, where the caller named them

    @property
    def n(self) -> int:
        return len(self.scores)

    def _oriented(self, score: float) -> tuple[np.ndarray, float]:
        sign = 1.0 if self.higher_is_related else -1.0
        return sign * np.asarray(self.scores, dtype=np.float64), sign * float(score)

    def z_score(self, score: float) -> float:
        null, s = self._oriented(score)
        if len(null) == 0:
            return math.nan  # no null: no z (never a mean of nothing)
        sd = float(null.std(ddof=1)) if len(null) > 1 else 0.0
        if sd == 0.0:
            return math.inf if s > float(null.mean()) else (0.0 if s == float(null.mean()) else -math.inf)
        return (s - float(null.mean())) / sd

    def p_value(self, score: float, alpha: float = 0.01) -> float:
        """Probability that an unrelated pair scores at least this related."""
        null, s = self._oriented(score)
        n = len(null)
        if n == 0:
            return math.nan
        if n >= 1 / alpha or n < 3:
            return float((1 + np.sum(null >= s)) / (n + 1))
        return self.prediction_p_value(score)

    def prediction_p_value(self, score: float) -> float:
        """The Student-t prediction p-value of one new draw, at any ``n`` (NaN below 2 scores)."""
        null, s = self._oriented(score)
        n = len(null)
        if n < 2:
            return math.nan
        sd = float(null.std(ddof=1))
        if sd == 0.0:
            return 0.0 if s > null.mean() else 1.0
        t = (s - float(null.mean())) / (sd * math.sqrt(1 + 1 / n))
        return float(sps.t.sf(t, df=n - 1))

    def threshold(self, false_positive_rate: float = 0.01) -> float:
        """Score above (or below, if lower is related) which an unrelated pair falls with the given rate."""
        null, _ = self._oriented(0.0)
        n = len(null)
        if n == 0:
            return math.nan
        if n >= 1 / false_positive_rate:
            thr = float(np.quantile(null, 1 - false_positive_rate, method="higher"))
        else:
            sd = float(null.std(ddof=1)) if n > 1 else 0.0
            thr = float(null.mean() + sps.t.isf(false_positive_rate, df=max(n - 1, 1)) * sd * math.sqrt(1 + 1 / n))
        return thr if self.higher_is_related else -thr


def calibrate(scores: Iterable[float], *, higher_is_related: bool = True, source: str = "",
              models: Sequence[object] = ()) -> NullCalibration:
    """A null from finite ``scores`` (NaN: a model the method could not score, left out with its name)."""
    arr = np.asarray(list(scores), dtype=np.float64)
    keep = np.isfinite(arr)
    names = tuple(str(m) for m, k in zip(models, keep, strict=True) if k) if len(models) else ()
    return NullCalibration(tuple(float(x) for x in arr[keep]), higher_is_related, source, names)


def decide(score: float, null: NullCalibration, *, alpha: float = 0.01, unrelated_above: float = 0.1,
           best_possible: float | None = None) -> Verdict:
    """``derived`` when p < alpha; ``unrelated`` when p > ``unrelated_above``; else inconclusive.

    ``best_possible`` is the score of an identical copy (1.0 for a correlation). When even that
    would not reach ``alpha`` against this null, the method cannot tell related from unrelated for
    this owner, and the answer is ``inconclusive`` whatever the score.
    """
    if null.n < 2 or not math.isfinite(score):
        return Verdict.INCONCLUSIVE
    if best_possible is not None and null.p_value(best_possible, alpha) >= alpha:
        return Verdict.INCONCLUSIVE
    p = null.p_value(score, alpha)
    if p < alpha:
        return Verdict.DERIVED
    if p > unrelated_above:
        return Verdict.UNRELATED
    return Verdict.INCONCLUSIVE


def verdict_of(p_value: float, *, alpha: float = 0.01, unrelated_above: float = 0.1) -> Verdict:
    """The verdict a p-value gives by itself (exact tests): ``derived`` below ``alpha``,
    ``unrelated`` above ``unrelated_above``, ``inconclusive`` in between and for NaN."""
    if math.isnan(p_value):
        return Verdict.INCONCLUSIVE
    if p_value < alpha:
        return Verdict.DERIVED
    return Verdict.UNRELATED if p_value > unrelated_above else Verdict.INCONCLUSIVE


def format_p(p: float, neg_log10_p: float = math.nan) -> str:
    """A p-value for people: one that underflowed to 0 is below what a double holds, not zero
    (below ``1e-neg_log10_p`` where the test carried its logarithm).

    >>> format_p(0.0), format_p(0.0, 2567.3), format_p(0.0123)
    ('< 1e-300', '< 1e-2567', '0.0123')
    """
    if p == 0.0:
        return f"< 1e-{math.floor(neg_log10_p)}" if math.isfinite(neg_log10_p) and neg_log10_p > 300 else "< 1e-300"
    return "nan" if math.isnan(p) else f"{p:.3g}"
