r"""Verdicts for one candidate owner: per method, then across methods, then across candidates.

Per method, the null depends on what the method's own p-value rests on:

* **Methods with an exact null** (``tracing``, ``awm``: ``Method.exact_null``) decide on their own
  p-value. It is valid for the pair by construction (the suspect's units or heads are exchangeable
  under independence), whatever else is registered, so a second null adds no validity; it only
  adds a floor. The registry null is a Student-t prediction over a handful of other entries (most
  of them relatives in a family-heavy registry), which cannot go much below 1e-3: with it no
  registry of more than a few dozen entries could draw an edge, since Holm over the ~10^6 candidate
  pairs of a 10^5-model hub needs p below 1e-8. Their p-values are carried as small as the test
  gives them (``neg_log10_p``; a float p of 0.0 is an underflow).
* **Reference-calibrated methods** must pass two nulls: their own calibration and the *registry
  null*, the scores of the candidate owner against the other registered models, which are
  unrelated to it unless the registry holds its relatives (then the null is conservative: it can
  make a descendant inconclusive, never make a stranger ``derived``). The registry null is small,
  so its p-value is the Student-t prediction p-value of :class:`~llm_lineage.stats.NullCalibration`
  (parametric even above 100 scores, so that 200 registered models can still give p below 1/201)::

      p_method = max(p_own, p_registry)

Across the m methods that apply, the family-wise error is held with Bonferroni (the methods read
the same weights, so their p-values are not independent and Fisher's product would overstate)::

    p_candidate = min(1, m * min_j p_j)

``derived`` when p_candidate < alpha; ``unrelated`` when every applicable method says so;
``inconclusive`` otherwise. One method saying ``unrelated`` does not veto: each attack defeats some
methods, and a calibrated ``derived`` from any one is already controlled at alpha / m.

The overall search verdict corrects once more for the K candidates compared (p * K).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..stats import NullCalibration, Verdict, format_p

_ORDER = {Verdict.DERIVED: 0, Verdict.INCONCLUSIVE: 1, Verdict.UNRELATED: 2}
UNRELATED_ABOVE = 0.1  # as stats.decide: p above this is no evidence of lineage at all


@dataclass(frozen=True)
class MethodEvidence:
    """One method's comparison of the suspect with one candidate owner."""

    method: str
    kind: str                  # the method's Kind ("weights", "outputs", "text") or "summary"
    applies: bool
    score: float
    p_value: float             # max of the method's own and the registry-null p-values
    verdict: Verdict | None    # None when the method cannot apply
    own_p_value: float
    own_verdict: Verdict | None
    registry_p_value: float
    registry_null_n: int       # other registered models in the registry null
    note: str = ""             # why it cannot apply, or what to know about its null
    neg_log10_p: float = math.nan   # -log10 p_value, as large as the test gives it
    exact: bool = False        # decided on the method's own exact null (the registry null not used)


def not_applicable(method: str, kind: str, reason: str) -> MethodEvidence:
    nan = math.nan
    return MethodEvidence(method, kind, False, nan, nan, None, nan, None, nan, 0, reason)


def exact_evidence(method: str, kind: str, score: float, own_p: float, own_verdict: Verdict,
                   neg_log10_p: float, note: str = "") -> MethodEvidence:
    """A method with an exact null: its own p-value and verdict decide (see the module docstring)."""
    return MethodEvidence(method, kind, True, float(score), float(own_p), own_verdict, float(own_p), own_verdict,
                          math.nan, 0, note, neg_log10_p=neg_log10_p, exact=True)


def registry_p_value(score: float, null: NullCalibration) -> float:
    if null.n < 2:
        return math.nan
    return null.prediction_p_value(score)


def method_evidence(method: str, kind: str, score: float, own_p: float, own_verdict: Verdict | None,
                    null: NullCalibration, *, best_possible: float | None, alpha: float, note: str = "") -> MethodEvidence:
    """Combine a method's own verdict with the registry null (see the module docstring)."""
    p_reg = registry_p_value(score, null)
    reg_verdict = None
    if null.n >= 2:
        if not math.isfinite(score):
            reg_verdict = Verdict.INCONCLUSIVE
        elif p_reg < alpha:
            reg_verdict = Verdict.DERIVED
        else:
            reg_verdict = Verdict.UNRELATED if p_reg > UNRELATED_ABOVE else Verdict.INCONCLUSIVE
        if best_possible is not None and registry_p_value(best_possible, null) >= alpha:
            reg_verdict = Verdict.INCONCLUSIVE  # even a copy would not stand out from this null
            note = note or "registry null too close to a copy's score to decide"
    elif not note:
        note = "registry too small for a registry null; method's own calibration only"
    verdict = _both(own_verdict, reg_verdict)
    p = _nanmax(own_p, p_reg)
    return MethodEvidence(method, kind, True, float(score), p, verdict, float(own_p), own_verdict,
                          p_reg, null.n, note, neg_log10_p=_neg_log10(p))


def _neg_log10(p: float) -> float:
    return math.nan if math.isnan(p) else (-math.log10(p) if p > 0 else math.inf)


def _both(own: Verdict | None, registry: Verdict | None) -> Verdict:
    if own is None and registry is None:
        return Verdict.INCONCLUSIVE
    if own is None or registry is None:
        return own or registry  # type: ignore[return-value]
    if own == registry:
        return own
    if Verdict.DERIVED in (own, registry):
        return Verdict.INCONCLUSIVE  # one null is passed, the other is not
    return Verdict.UNRELATED         # unrelated by one, undecided by the other


def _nanmax(*values: float) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return max(finite) if finite else math.nan


@dataclass(frozen=True)
class CandidateVerdict:
    verdict: Verdict
    p_value: float
    agree: tuple[str, ...]          # methods whose verdict is the candidate's verdict
    disagree: tuple[str, ...]       # methods that apply but say otherwise
    cannot_apply: tuple[str, ...]
    explanation: str
    neg_log10_p: float = math.nan   # -log10 of the family-wise p, as large as the methods give it


def candidate_verdict(evidence: dict[str, MethodEvidence], alpha: float) -> CandidateVerdict:
    applicable = {m: e for m, e in evidence.items() if e.applies and e.verdict is not None}
    cannot = tuple(sorted(m for m in evidence if m not in applicable))
    reasons = "; ".join(f"{m}: {evidence[m].note}" for m in cannot)
    if not applicable:
        return CandidateVerdict(Verdict.INCONCLUSIVE, math.nan, (), (), cannot,
                                "no method could be applied" + (f" ({reasons})" if reasons else ""))
    ps = [e.p_value for e in applicable.values() if not math.isnan(e.p_value)]
    p = min(1.0, len(applicable) * min(ps)) if ps else math.nan
    strongest = max((e.neg_log10_p for e in applicable.values() if not math.isnan(e.neg_log10_p)), default=math.nan)
    neg_log10_p = max(0.0, strongest - math.log10(len(applicable))) if not math.isnan(strongest) else math.nan
    verdicts = {m: e.verdict for m, e in applicable.items()}
    if not math.isnan(p) and p < alpha and Verdict.DERIVED in verdicts.values():
        verdict = Verdict.DERIVED
    elif all(v == Verdict.UNRELATED for v in verdicts.values()):
        verdict = Verdict.UNRELATED
    else:
        verdict = Verdict.INCONCLUSIVE
    agree = tuple(sorted(m for m, v in verdicts.items() if v == verdict))
    disagree = tuple(sorted(m for m, v in verdicts.items() if v != verdict))
    parts = [f"{verdict.value}: {', '.join(agree) or 'no method'} agree"]
    if disagree:
        parts.append("; ".join(f"{m} says {verdicts[m]}" for m in disagree))
    parts.append(f"family-wise p = {format_p(p)} over {len(applicable)} method(s)")
    if cannot:
        parts.append(f"cannot apply: {reasons}")
    return CandidateVerdict(verdict, p, agree, disagree, cannot, "; ".join(parts), neg_log10_p)


def rank_key(verdict: Verdict, p_value: float, summary_score: float) -> tuple[int, float, float]:
    """Sort key, best first: verdict, then family-wise p, then summary correlation."""
    p = 1.0 if math.isnan(p_value) else p_value
    s = -1.0 if math.isnan(summary_score) else summary_score
    return _ORDER[verdict], p, -s


def overall_verdict(candidates: list[tuple[str, Verdict, float]], alpha: float) -> tuple[Verdict, float, str]:
    """Across K compared candidates ``(name, verdict, p)``: derived only if the best survives p * K < alpha."""
    if not candidates:
        return Verdict.INCONCLUSIVE, math.nan, "the registry holds no comparable model"
    k = len(candidates)
    name, verdict, p = candidates[0]
    p_all = min(1.0, p * k) if not math.isnan(p) else math.nan
    if verdict == Verdict.DERIVED and p_all < alpha:
        return Verdict.DERIVED, p_all, f"descends from {name!r} (p = {format_p(p_all)} after {k} candidates compared)"
    if all(v == Verdict.UNRELATED for _, v, _ in candidates):
        return Verdict.UNRELATED, p_all, f"unrelated to all {k} candidates compared"
    if verdict == Verdict.DERIVED:
        return (Verdict.INCONCLUSIVE, p_all,
                f"{name!r} looks like the owner, but p = {format_p(p_all)} after {k} candidates is not below {alpha}")
    return Verdict.INCONCLUSIVE, p_all, f"no candidate reaches a verdict (best: {name!r})"
