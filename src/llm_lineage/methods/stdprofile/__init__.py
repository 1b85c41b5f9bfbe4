"""White-box std-profile fingerprint: per-layer standard deviations of the attention projections."""

from .config import StdProfileConfig
from .core import (
                   STD_PROFILE,
                   StdProfile,
                   StdProfileMethod,
                   StdProfileResult,
                   compare,
                   correlate,
                   fingerprint,
                   layer_std,
                   null_calibration,
                   pairwise_scores,
                   verify,
)
from .plot import ProfilesFigure, plot_comparison, plot_models, plot_profiles

__all__ = ["STD_PROFILE", "ProfilesFigure", "StdProfile", "StdProfileConfig", "StdProfileMethod", "StdProfileResult",
           "compare", "correlate", "fingerprint", "layer_std", "null_calibration", "pairwise_scores",
           "plot_comparison", "plot_models", "plot_profiles", "verify"]
