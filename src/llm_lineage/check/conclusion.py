"""The conclusion in plain words, built from the results: what was compared, the verdict, the strongest
evidence with its p-value and null, what the derivation looks like, what was not tested."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..methods.base import get_method
from ..stats import Verdict, format_p
from ..weights.hub import described
from .combine import Combined, Test


def conclude(owner: str, suspect: str, combined: Combined, tests: Sequence[Test], results: dict[str, Any],
             not_tested: Sequence[str], alpha: float) -> tuple[str, str]:
    """``(conclusion, next step)``."""
    a, b = _name(owner), _name(suspect)
    deciding = [t for t in tests if t.deciding]
    if combined.verdict is Verdict.DERIVED:
        best = max(deciding, key=lambda t: t.neg_log10_p)
        text = (f"{b} is derived from {a}: p = {_p(combined)} ({combined.correction}, alpha {alpha}). "
                f"The strongest evidence compares {get_method(best.method).plain}: {best.finding}; p = "
                f"{format_p(best.p_value, best.neg_log10_p)} against its null ({best.null}).")
        if looks := derivation(results):
            text += f" It looks like {looks}."
        return text + _untested(not_tested), ""
    if combined.verdict is Verdict.UNRELATED:
        names = ", ".join(t.method for t in deciding)
        text = (f"No evidence that {b} descends from {a}: every deciding test ({names}) found them unrelated "
                f"(combined p = {_p(combined)}, {combined.correction}).")
        return text + _untested(not_tested), ""
    step = next_step(tests, results)
    if not deciding:
        why = "no test here has a valid null for this pair"
    else:
        why = "; ".join(f"{t.method} says {t.verdict.value if t.verdict else 'nothing'} (p = {format_p(t.p_value)})"
                        for t in deciding)
    text = (f"The evidence does not decide whether {b} descends from {a} ({why}; combined p = {_p(combined)}). "
            f"Next step: {step}")
    return text + _untested(not_tested), step


def derivation(results: dict[str, Any]) -> str:
    """What the derivation looks like, from what the tests measured (empty when they say nothing)."""
    parts = []
    tracing = results.get("tracing")
    if tracing is not None:
        owner_depth = len({o for o, _ in tracing.layer_pairs})
        if any(o != s for o, s in tracing.layer_pairs):
            parts.append(f"a model whose layers were removed or added ({owner_depth} of the owner's layers found "
                         "in order)")
        cosine = tracing.unit_cosine
        if math.isfinite(cosine):
            if cosine >= 0.999999:
                parts.append("a copy of the owner's weights (identical, or re-saved without rounding)")
            elif cosine >= 0.9999:
                parts.append(f"a copy within rounding of the owner's weights (unit cosine {cosine:.5f}: a re-saved "
                             "or 8-bit quantised copy)")
            elif cosine >= 0.99:
                parts.append(f"a close copy (unit cosine {cosine:.4f}: quantised to fewer bits, or lightly tuned)")
            elif tracing.p_exact < 0.01:
                parts.append(f"a fine-tune or continued pre-training (unit cosine {cosine:.3f})")
            elif tracing.p_match < 0.01:
                parts.append("a re-parameterised copy: its feed-forward units were permuted")
        if tracing.rotated:
            parts.append("its residual stream was rotated (a function-preserving re-parameterisation)")
    subspace = results.get("subspace")
    if subspace is not None and subspace.verdict is Verdict.DERIVED and subspace.grade:
        parts.append(f"an output layer that is {subspace.grade}")
    return "; ".join(parts)


def next_step(tests: Sequence[Test], results: dict[str, Any]) -> str:
    """The single most useful thing to add or ask for."""
    undecided = [t for t in tests if t.deciding and t.verdict is Verdict.INCONCLUSIVE and t.notes]
    if undecided:
        return undecided[0].notes[-1]
    supporting = [t for t in tests if not t.deciding and t.needs]
    if supporting:
        return supporting[0].needs.removeprefix("no verdict: ")
    if "subspace" in results or "text" in results:
        return "ask for the suspect's weights: the white-box tests have exact p-values"
    return "give models of the owner's tokenizer and recipe as references (--null MODEL)"


def _untested(not_tested: Sequence[str]) -> str:
    return f" Not tested: {'; '.join(not_tested)}." if not_tested else ""


def _p(combined: Combined) -> str:
    return format_p(combined.p_value, combined.neg_log10_p)


def _name(spec: str) -> str:
    return spec if "://" in spec else described(spec)
