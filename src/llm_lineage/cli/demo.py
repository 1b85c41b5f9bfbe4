"""``llm-lineage demo``: build a victim, a derived and an unrelated model; run every method."""

from __future__ import annotations

from . import _render
from ._options import CacheDirOpt, JsonOpt


def demo(cache_dir: CacheDirOpt = None, as_json: JsonOpt = False) -> None:
    """Build (or reuse) small zoo models and print each method's verdict with its numbers."""
    from ..demo import run

    report = run(cache_dir, progress=not as_json)
    if as_json:
        _render.print_json(report)
        return
    _render.key_values("models", {"victim": report.models.victim, **{f"derived: {k}": v for k, v in report.models.derived.items()},
                                  **{f"unrelated: {k}": v for k, v in report.models.unrelated.items()}})
    _render.table("verdicts", ["method", "suspect", "truth", "score", "p-value", "verdict"],
                  [[r.method, r.suspect, r.truth, r.result.score, r.result.p_value, r.result.verdict]
                   for r in report.rows])
    if report.evaluation is not None:
        _render.evaluation(report.evaluation, report.report, as_json=False)
    for result in report.checks:  # the demo ends as a user would start: `llm-lineage check OWNER SUSPECT`
        _render.check_result(result, as_json=False)
