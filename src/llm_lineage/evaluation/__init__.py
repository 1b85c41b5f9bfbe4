"""Every method against every attack: derive suspects, score pairs, AUC / TPR@1%FPR, HTML report."""

from .harness import (PRESETS, AttackSpec, Evaluation, MethodSummary, PairResult, Suspect, evaluate,
                      method_variants, parse_attacks)
from .report import ReportFiles, write_report

__all__ = ["PRESETS", "AttackSpec", "Evaluation", "MethodSummary", "PairResult", "ReportFiles", "Suspect",
           "evaluate", "method_variants", "parse_attacks", "write_report"]
