"""The demo: a victim, a model derived from it, an unrelated model, and every method's verdict.

Models come from the zoo and are cached, so a second run only re-scores. The CLI's ``demo``
command renders what :func:`run` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import zoo
from .paths import cache_root
from .progress import stage

VICTIM_STEPS = 300
# the attack set the demo ends with: cheap to derive, and it separates the methods
DEMO_ATTACKS = "quantize:bits=4,rotate,scale,upcycle-moe"


@dataclass(frozen=True)
class DemoModels:
    victim: Path
    derived: dict[str, Path]   # attack name -> model dir
    unrelated: dict[str, Path]
    references: tuple[Path, ...]  # unrelated models the white-box nulls are built from, made here explicitly


@dataclass(frozen=True)
class DemoRow:
    method: str
    suspect: str
    truth: str          # "derived" or "unrelated"
    result: Any         # the method's result dataclass


@dataclass(frozen=True)
class DemoReport:
    models: DemoModels
    rows: list[DemoRow] = field(default_factory=list)
    evaluation: Any = None     # evaluation.Evaluation over DEMO_ATTACKS
    report: Any = None         # evaluation.ReportFiles: report.html and results.json
    checks: list[Any] = field(default_factory=list)   # check.CheckResult: the one answer per suspect


def build_models(cache: Path | None = None, progress: bool = True) -> DemoModels:
    from .attacks import derive

    root = Path(cache) if cache else cache_root() / "demo"
    with stage("building the victim and a fine-tuned copy"):
        victim = zoo.build("llama", seed=0, train_steps=VICTIM_STEPS, progress=progress)
        derived = {
            "finetune": derive(victim, "finetune", root / "finetune", steps=100, seed=1, progress=progress),
        }
    with stage("building two unrelated models"):
        unrelated = {
            "llama-seed7": zoo.build("llama", seed=7, train_steps=VICTIM_STEPS, progress=progress),
            "qwen2-seed3": zoo.build("qwen2", seed=3, train_steps=VICTIM_STEPS, progress=progress),
        }
    with stage("building the reference models of the null (same recipe, other seeds)"):
        references = zoo.null_models("llama", train_steps=VICTIM_STEPS, progress=progress)
    return DemoModels(victim, derived, unrelated, references)


def run(cache: Path | None = None, progress: bool = True) -> DemoReport:
    models = build_models(cache, progress)
    suspects = [(name, path, "derived") for name, path in models.derived.items()]
    suspects += [(name, path, "unrelated") for name, path in models.unrelated.items()]
    from .evaluation import evaluate, write_report
    from .methods import METHODS

    with stage("every method on the fine-tuned copy and the unrelated models"):
        rows = [DemoRow(name, suspect, truth, method.verify(models.victim, path, references=models.references))
                for name, method in METHODS.items() for suspect, path, truth in suspects]
    out = (Path(cache) if cache else cache_root() / "demo") / "evaluation"
    with stage(f"evaluation: {DEMO_ATTACKS} against the unrelated models"):
        evaluation = evaluate(models.victim, DEMO_ATTACKS, out, unrelated=list(models.unrelated.values()),
                              references=models.references, progress=progress)
    from .check import check

    with stage("check: one answer for each suspect, with no reference model"):
        checks = [check(models.victim, path) for _, path, _ in suspects]
    return DemoReport(models, rows, evaluation, write_report(evaluation, out), checks)
