r"""Detection metrics across many (owner, suspect) pairs, as the LeaFBench SoK reports them.

Scores are oriented so that larger means "more related" (the harness flips methods whose score
is a distance). ``labels`` are 1 for truly derived suspects and 0 for unrelated ones.

- **AUC**: the probability that a random derived pair outscores a random unrelated one, ties
  counting one half (the Mann-Whitney statistic)::

      AUC = (1 / (n_1 n_0)) sum_{i: y=1} sum_{j: y=0} [s_i > s_j] + 0.5 [s_i = s_j]

- **TPR at 1% FPR**: the largest share of derived pairs caught by a threshold that calls at most
  1% of unrelated pairs derived (with fewer than 100 unrelated pairs: none of them).
- **Accuracy at a global threshold**: one threshold for all pairs of a method, the one that
  maximises accuracy; an optimistic figure, reported next to the accuracy of the method's own
  calibrated verdicts.

References
----------
.. [1] S. Shao et al., "SoK: Large Language Model Copyright Auditing via Fingerprinting",
   arXiv:2508.19843, 2025 (LeaFBench: AUC, TPR at 1% FPR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RocCurve:
    false_positive_rate: np.ndarray  # (n_thresholds + 1,), from 0 to 1
    true_positive_rate: np.ndarray
    thresholds: np.ndarray           # call "derived" when score >= threshold; first is +inf


def _check(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be two vectors of the same length")
    keep = np.isfinite(s)
    return y[keep], s[keep]


def roc_curve(labels: Sequence[int], scores: Sequence[float]) -> RocCurve:
    """ROC points at every distinct score (tied scores enter together)."""
    y, s = _check(labels, scores)
    thresholds = np.concatenate([[np.inf], np.unique(s)[::-1]])
    n_pos, n_neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    tpr = np.array([np.sum((s >= t) & (y == 1)) / n_pos for t in thresholds])
    fpr = np.array([np.sum((s >= t) & (y == 0)) / n_neg for t in thresholds])
    return RocCurve(fpr, tpr, thresholds)


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve; NaN without both classes."""
    y, s = _check(labels, scores)
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def tpr_at_fpr(labels: Sequence[int], scores: Sequence[float], fpr: float = 0.01) -> float:
    """Largest true-positive rate among thresholds whose false-positive rate is at most ``fpr``."""
    y, s = _check(labels, scores)
    if not y.any() or y.all():
        return float("nan")
    curve = roc_curve(y.tolist(), s.tolist())
    return float(curve.true_positive_rate[curve.false_positive_rate <= fpr + 1e-12].max())


def best_accuracy(labels: Sequence[int], scores: Sequence[float]) -> tuple[float, float]:
    """``(accuracy, threshold)`` of the single threshold that classifies the most pairs right."""
    y, s = _check(labels, scores)
    if not len(y):
        return float("nan"), float("nan")
    values = np.unique(s)
    # candidates: below everything, and midway between neighbours (a threshold on a score is ambiguous)
    cuts = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    acc = np.array([np.mean((s >= c) == (y == 1)) for c in cuts])
    best = int(np.argmax(acc))
    return float(acc[best]), float(cuts[best])
