"""The demo: a victim, a model derived from it, an unrelated model, and every method's verdict.

Models come from the zoo and are cached, so a second run only re-scores. The CLI's ``demo``
command renders what :func:`run` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import zoo
from .methods import METHODS

VICTIM_STEPS = 300
# the attack set the demo ends with: cheap to derive, and it separates the methods (issue 7)
DEMO_ATTACKS = "quantize:bits=4,rotate,scale,upcycle-moe"


@dataclass(frozen=True)
class DemoModels:
    victim: Path
    derived: dict[str, Path]   # attack name -> model dir
    unrelated: dict[str, Path]


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
    evaluation: Any = None     # evaluation.Evaluation over DEMO_ATTACKS (issue 7)
    report: Any = None         # evaluation.ReportFiles: report.html and results.json


def build_models(cache: Path | None = None, progress: bool = True) -> DemoModels:
    from .attacks import derive

    root = Path(cache) if cache else zoo.cache_dir().parent / "demo"
    victim = zoo.build("llama", seed=0, train_steps=VICTIM_STEPS, progress=progress)
    derived = {
        "finetune": derive(victim, "finetune", root / "finetune", steps=100, seed=1, progress=progress),
    }
    unrelated = {
        "llama-seed7": zoo.build("llama", seed=7, train_steps=VICTIM_STEPS, progress=progress),
        "qwen2-seed3": zoo.build("qwen2", seed=3, train_steps=VICTIM_STEPS, progress=progress),
    }
    return DemoModels(victim, derived, unrelated)


def run(cache: Path | None = None, progress: bool = True) -> DemoReport:
    models = build_models(cache, progress)
    suspects = [(name, path, "derived") for name, path in models.derived.items()]
    suspects += [(name, path, "unrelated") for name, path in models.unrelated.items()]
    rows = [DemoRow(method, name, truth, spec.verify(models.victim, path))
            for method, spec in METHODS.items() for name, path, truth in suspects]
    from .evaluation import evaluate, write_report

    out = (Path(cache) if cache else zoo.cache_dir().parent / "demo") / "evaluation"
    evaluation = evaluate(models.victim, DEMO_ATTACKS, out, unrelated=list(models.unrelated.values()),
                          progress=progress)
    return DemoReport(models, rows, evaluation, write_report(evaluation, out))
