"""Figures of std profiles: the paper's four panels for a pair, and an overlay of many models.

Profiles are z-scored per model and projection before drawing (as in the paper), because only
their shape over depth is compared: the Pearson correlation ignores offset and scale. Models of
different depth are drawn over relative depth, where the comparison interpolates them.
Matplotlib's object API is used (no pyplot), so nothing depends on a GUI backend or global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import StdProfileConfig
from .core import StdProfile, StdProfileResult, correlations, fingerprint, pairwise_scores

_TITLES = {"q_proj": "Q", "k_proj": "K", "v_proj": "V", "o_proj": "O"}


def zscore(profile: np.ndarray) -> np.ndarray:
    """``(p - mean p) / sd p``; a constant profile becomes zeros."""
    profile = np.asarray(profile, dtype=np.float64)
    sd = profile.std()
    return (profile - profile.mean()) / sd if sd > 0 else np.zeros_like(profile)


def _depth(profile: StdProfile, relative: bool) -> np.ndarray:
    if not relative:
        return np.arange(profile.n_layers)
    return np.linspace(0.0, 1.0, profile.n_layers) if profile.n_layers > 1 else np.zeros(1)


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    return fig, list(axes.ravel())


def plot_comparison(owner: StdProfile, suspect: StdProfile, result: StdProfileResult | None,
                    path: str | Path, *, config: StdProfileConfig = StdProfileConfig()) -> Path:
    """Owner and suspect z-scored profiles for Q, K, V and O, with the correlations in the titles."""
    return _save(comparison_figure(owner, suspect, result, config=config), Path(path))


def comparison_figure(owner: StdProfile, suspect: StdProfile, result: StdProfileResult | None = None, *,
                      config: StdProfileConfig = StdProfileConfig()):
    """The figure :func:`plot_comparison` writes, as a matplotlib ``Figure``."""
    main = result.correlations if result is not None else correlations(owner, suspect, config)[0]
    relative = owner.n_layers != suspect.n_layers
    fig, axes = _figure()
    for ax, proj in zip(axes, owner.projections, strict=True):
        # owner wide and solid, suspect thin and dashed on top: a copy still shows both lines
        for fp, style in ((owner, dict(color="tab:blue", marker="o", linewidth=2.6, markersize=6)),
                          (suspect, dict(color="tab:red", marker="s", linestyle="--", linewidth=1.4, markersize=3.5))):
            row = fp.projections.index(proj)
            ax.plot(_depth(fp, relative), zscore(fp.sigma[row]), label=fp.name, **style)
        ax.set_title(f"{_TITLES.get(proj, proj)} ({proj})   r = {_fmt(main[proj])}")
        ax.set_ylabel("std, z-scored")
        ax.grid(alpha=0.3)
    _label_depth(axes, relative)
    axes[0].legend(loc="best", fontsize=8)
    heading = f"std profiles: {owner.name} vs {suspect.name}"
    if result is not None:
        heading += f"\nscore {_fmt(result.score)}   p = {_fmt(result.p_value, 3)}   verdict: {result.verdict}"
    fig.suptitle(heading)
    return fig


def plot_profiles(profiles: Sequence[StdProfile], path: str | Path, *, raw: bool = False) -> Path:
    """Overlay many models' profiles, one panel per projection (z-scored unless ``raw``)."""
    return _save(profiles_figure(profiles, raw=raw), Path(path))


def profiles_figure(profiles: Sequence[StdProfile], *, raw: bool = False):
    """The figure :func:`plot_profiles` writes, as a matplotlib ``Figure``."""
    relative = len({p.n_layers for p in profiles}) > 1
    fig, axes = _figure()
    colors = _colors(len(profiles))
    for ax, proj in zip(axes, profiles[0].projections, strict=True):
        for fp, color in zip(profiles, colors, strict=True):
            values = fp.sigma[fp.projections.index(proj)]
            ax.plot(_depth(fp, relative), values if raw else zscore(values), label=fp.name, color=color,
                    marker="o", markersize=3, linewidth=1.3)
        ax.set_title(f"{_TITLES.get(proj, proj)} ({proj})")
        ax.set_ylabel("std" if raw else "std, z-scored")
        ax.grid(alpha=0.3)
    _label_depth(axes, relative)
    axes[0].legend(loc="best", fontsize=7)
    fig.suptitle(f"std profiles of {len(profiles)} models" + ("" if raw else " (z-scored per model)"))
    return fig


@dataclass(frozen=True)
class ProfilesFigure:
    """What ``plot-profiles`` drew: the models, their depths, pairwise scores and the file."""

    models: tuple[str, ...]
    n_layers: tuple[int, ...]
    scores: np.ndarray     # (n, n) mean Pearson correlation over q, k, v, o; 1 on the diagonal
    figure: Path


def plot_models(models: Sequence[str | Path], path: str | Path, *, raw: bool = False, progress: bool = False,
                allow_pickle: bool = False, config: StdProfileConfig = StdProfileConfig()) -> ProfilesFigure:
    """Profile every model (one tensor at a time), overlay them in one figure, score every pair."""
    profiles = [fingerprint(m, config, progress=progress, allow_pickle=allow_pickle) for m in models]
    figure = plot_profiles(profiles, path, raw=raw)
    return ProfilesFigure(tuple(p.name for p in profiles), tuple(p.n_layers for p in profiles),
                          pairwise_scores(profiles, config), figure)


def _label_depth(axes: list, relative: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    for ax in axes[2:]:
        ax.set_xlabel("relative depth" if relative else "layer")
    if not relative:  # layers are whole numbers
        axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _fmt(value: float, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "undefined"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 else f"{value:.{digits}f}"


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
