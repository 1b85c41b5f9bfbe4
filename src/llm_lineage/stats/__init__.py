"""Null distributions, calibration and p-values, shared by every method."""

from .calibration import NullCalibration, Verdict, calibrate, decide, format_p

__all__ = ["NullCalibration", "Verdict", "calibrate", "decide", "format_p"]
