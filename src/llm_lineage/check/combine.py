r"""One verdict from many tests: which tests decide, how their p-values combine, what to do next.

**Deciding and supporting tests.** A test decides only where its null is valid for this pair:

* methods with an exact null (``tracing``, ``awm``: permutations of the suspect's own units or
  heads), and the subspace test's exact regimes (exact copy, copy at a shipping precision, low-rank
  change, output width), whose nulls are simulated from the evidence's own shape and precision;
* reference-calibrated methods (HuRef, PCS, std-profile, the subspace and text tests' model
  nulls) only when at least :data:`MIN_REFERENCES` reference models were scored.

The others are *supporting* evidence: their raw score is reported, labelled as such, never a
p-value of ``nan``, and the line says what they would need to decide.

**Combination: Holm over the deciding tests.** The tests read the same two models, so their
p-values are dependent in unknown ways; Fisher's product would assume independence and overstate.
Holm's step-down procedure bounds the probability of *any* false ``derived`` among the m deciding
tests by alpha under every dependence structure, and the combined claim "some test rejects" is
Holm's first step: ``p = min(1, m * min_j p_j)`` (Bonferroni, which Holm never beats there). Each
test's Holm-adjusted p-value is reported too. ``-log10 p`` is carried as far as the tests give it.

The verdict: ``derived`` when that p is below alpha; ``unrelated`` when every deciding test says
``unrelated``; otherwise ``inconclusive``, with the single most useful next step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..stats import Verdict, holm

MIN_REFERENCES = 3


@dataclass(frozen=True)
class Test:
    """One method's comparison, placed in the combined verdict."""

    method: str
    deciding: bool
    verdict: Verdict | None        # None: supporting evidence has no verdict of its own here
    p_value: float                 # NaN for supporting evidence
    neg_log10_p: float
    holm_p_value: float            # NaN for supporting evidence
    score: float
    null: str                      # what the p-value was calibrated against
    finding: str                   # one line of the method's own evidence
    needs: str                     # supporting: what it would need to decide
    assumption: str                # what would have to be true for the p-value to be wrong
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Combined:
    verdict: Verdict
    p_value: float
    neg_log10_p: float
    n_deciding: int
    correction: str


def combine(tests: Sequence[Test], alpha: float) -> Combined:
    """The verdict over the deciding tests (see the module docstring)."""
    deciding = [t for t in tests if t.deciding and math.isfinite(t.p_value)]
    m = len(deciding)
    if m == 0:
        return Combined(Verdict.INCONCLUSIVE, math.nan, math.nan, 0, "no deciding test")
    p = min(1.0, m * min(t.p_value for t in deciding))
    strongest = max(t.neg_log10_p for t in deciding)
    neg_log10_p = max(0.0, strongest - math.log10(m))
    if p < alpha:
        verdict = Verdict.DERIVED
    elif all(t.verdict is Verdict.UNRELATED for t in deciding):
        verdict = Verdict.UNRELATED
    else:
        verdict = Verdict.INCONCLUSIVE
    return Combined(verdict, p, neg_log10_p, m, f"Holm over {m} deciding test{'s' if m > 1 else ''}")


def with_holm(tests: Sequence[Test]) -> list[Test]:
    """``tests`` with each deciding test's Holm-adjusted p-value filled in."""
    deciding = [i for i, t in enumerate(tests) if t.deciding and math.isfinite(t.p_value)]
    adjusted = dict(zip(deciding, holm([tests[i].p_value for i in deciding]), strict=True))
    return [replace(t, holm_p_value=adjusted.get(i, math.nan)) for i, t in enumerate(tests)]
