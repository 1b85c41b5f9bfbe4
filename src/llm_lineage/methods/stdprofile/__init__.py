"""White-box std-profile fingerprint: per-layer standard deviations of the attention projections."""

from .config import StdProfileConfig
from .core import (StdProfile, StdProfileResult, compare, correlate, fingerprint, layer_std,
                   null_calibration, pairwise_scores, verify)
from .plot import ProfilesFigure, plot_comparison, plot_models, plot_profiles

__all__ = ["ProfilesFigure", "StdProfile", "StdProfileConfig", "StdProfileResult", "compare", "correlate",
           "fingerprint", "layer_std", "null_calibration", "pairwise_scores", "plot_comparison", "plot_models",
           "plot_profiles", "verify"]

from ..base import MethodSpec  # noqa: E402  (after the re-exports it wraps)

SPEC = MethodSpec(
    name="std-profile", kind="white-box", fingerprint=fingerprint, compare=compare, verify=verify,
    describe="per-layer std of Q/K/V/O weights, Pearson over depth; survives fine-tuning, continued "
             "training and MoE upcycling, not Q/K or V/O rescaling; same-recipe models correlate too",
    plot=plot_comparison,
)
