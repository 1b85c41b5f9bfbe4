"""Figures: four panels of z-scored profiles with the correlations in the titles; overlays of many models."""

from __future__ import annotations

import numpy as np
import pytest

from llm_lineage.methods.stdprofile import compare, fingerprint, plot_comparison, plot_profiles
from llm_lineage.methods.stdprofile.plot import comparison_figure, profiles_figure, zscore

from .conftest import write_checkpoint


@pytest.fixture(scope="module")
def three_profiles(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot")
    rng = np.random.default_rng(0)
    base = rng.uniform(0.02, 0.1, (4, 9))
    owner = fingerprint(write_checkpoint(root / "owner", base, seed=1))
    suspect = fingerprint(write_checkpoint(root / "suspect", base * 1.05, seed=2))
    other = fingerprint(write_checkpoint(root / "other", rng.uniform(0.02, 0.1, (4, 5)), seed=3))
    return owner, suspect, other


def _png_is_drawn(path):
    from matplotlib.image import imread

    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 400 and image.shape[1] > 600
    assert float(image[..., :3].std()) > 0.05  # lines and text, not a blank canvas


def test_comparison_figure_has_four_panels_with_correlations_in_titles(three_profiles, tmp_path):
    owner, suspect, _ = three_profiles
    result = compare(owner, suspect)
    fig = comparison_figure(owner, suspect, result)
    axes = fig.axes
    assert len(axes) == 4
    for ax, proj in zip(axes, ("q_proj", "k_proj", "v_proj", "o_proj"), strict=True):
        assert proj in ax.get_title() and f"{result.correlations[proj]:.4f}" in ax.get_title()
        lines = ax.get_lines()
        assert len(lines) == 2
        # what is drawn is the z-scored profile of each model, over its layers
        np.testing.assert_allclose(lines[0].get_ydata(), zscore(owner.sigma[owner.projections.index(proj)]))
        np.testing.assert_allclose(lines[1].get_xdata(), np.arange(suspect.n_layers))
    assert "verdict" in fig.get_suptitle()
    _png_is_drawn(plot_comparison(owner, suspect, result, tmp_path / "pair.png"))


def test_overlay_uses_relative_depth_when_depths_differ(three_profiles, tmp_path):
    fig = profiles_figure(list(three_profiles))
    assert len(fig.axes) == 4 and all(len(ax.get_lines()) == 3 for ax in fig.axes)
    assert fig.axes[3].get_xlabel() == "relative depth"
    assert fig.axes[0].get_lines()[2].get_xdata()[-1] == pytest.approx(1.0)
    raw = profiles_figure(list(three_profiles[:2]), raw=True)
    np.testing.assert_allclose(raw.axes[1].get_lines()[0].get_ydata(), three_profiles[0].sigma[1])
    _png_is_drawn(plot_profiles(list(three_profiles), tmp_path / "many.png"))
