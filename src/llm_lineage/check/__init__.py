"""One answer: ``check OWNER SUSPECT`` runs what applies, combines the deciding tests (Holm), says it in
plain words and writes an evidence report."""

from .combine import MIN_REFERENCES, Combined, Test, combine, holm
from .run import CheckResult, check

__all__ = ["MIN_REFERENCES", "CheckResult", "Combined", "Test", "check", "combine", "holm"]
