"""Null distributions, calibration and p-values, shared by every method. Pure maths: no model is
built, read or trained here; callers hand in the scores."""

from .calibration import NullCalibration, Verdict, calibrate, decide, format_p, verdict_of
from .multiple import holm
from .nulls import NullSummary, summarize

__all__ = ["NullCalibration", "NullSummary", "Verdict", "calibrate", "decide", "format_p", "holm", "summarize",
           "verdict_of"]
