"""AUC, ROC, TPR at a fixed FPR and the best global threshold, against their definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llm_lineage.evaluation import metrics

pairs = st.lists(st.tuples(st.integers(0, 1), st.floats(-50, 50).map(lambda x: round(x, 1))),
                 min_size=2, max_size=40)


def _split(data):
    labels = [y for y, _ in data]
    scores = [s for _, s in data]
    return labels, scores


@settings(max_examples=150, deadline=None)
@given(data=pairs)
def test_auc_is_the_pairwise_win_rate(data):
    labels, scores = _split(data)
    assume(0 < sum(labels) < len(labels))
    pos = [s for y, s in data if y]
    neg = [s for y, s in data if not y]
    brute = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg])
    assert np.isclose(metrics.auc(labels, scores), brute)
    # the area under the ROC step curve (trapezoids handle tied scores) is the same number
    curve = metrics.roc_curve(labels, scores)
    assert np.isclose(np.trapezoid(curve.true_positive_rate, curve.false_positive_rate), brute)


@settings(max_examples=100, deadline=None)
@given(data=pairs)
def test_auc_is_rank_based_and_flips_with_the_score(data):
    labels, scores = _split(data)
    assume(0 < sum(labels) < len(labels))
    s = np.asarray(scores)
    a = metrics.auc(labels, s)
    assert np.isclose(metrics.auc(labels, np.exp(s / 10) * 3 + 1), a)  # monotone transform
    assert np.isclose(metrics.auc(labels, -s), 1 - a)


@settings(max_examples=100, deadline=None)
@given(data=pairs)
def test_tpr_at_fpr_and_best_accuracy_are_achievable(data):
    labels, scores = _split(data)
    assume(0 < sum(labels) < len(labels))
    y, s = np.asarray(labels), np.asarray(scores)
    tpr = metrics.tpr_at_fpr(y, s, 0.01)
    # some threshold reaches that TPR with no false positive (fewer than 100 negatives)
    ok = [t for t in np.unique(s) if np.mean(s[y == 0] >= t) <= 0.01]
    best = max([np.mean(s[y == 1] >= t) for t in ok], default=0.0)
    assert np.isclose(tpr, best)
    acc, cut = metrics.best_accuracy(y, s)
    assert np.isclose(acc, np.mean((s >= cut) == (y == 1)))
    assert all(np.mean((s >= t) == (y == 1)) <= acc + 1e-12 for t in np.concatenate([s, [np.inf]]))


def test_perfect_and_hopeless_separation():
    labels = [1, 1, 1, 0, 0, 0]
    assert metrics.auc(labels, [5, 6, 7, 1, 2, 3]) == 1.0
    assert metrics.tpr_at_fpr(labels, [5, 6, 7, 1, 2, 3]) == 1.0
    assert metrics.auc(labels, [1, 2, 3, 5, 6, 7]) == 0.0
    assert metrics.tpr_at_fpr(labels, [1, 2, 3, 5, 6, 7]) == 0.0
    assert metrics.best_accuracy(labels, [5, 6, 7, 1, 2, 3])[0] == 1.0
    assert np.isnan(metrics.auc([1, 1], [0.3, 0.4]))
