"""Every method against every attack: derive suspects, score pairs, AUC / TPR@1%FPR, HTML report.

Names are imported on first use, so that ``evaluation.presets`` stays cheap to import.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .presets import PRESETS

_WHERE = {"AttackSpec": "harness", "Evaluation": "harness", "MethodSummary": "harness", "PairResult": "harness",
          "Suspect": "harness", "evaluate": "harness", "method_variants": "harness", "parse_attacks": "harness",
          "ReportFiles": "report", "write_report": "report"}

__all__ = ["PRESETS", *_WHERE]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
