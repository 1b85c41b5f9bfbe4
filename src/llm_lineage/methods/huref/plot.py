"""Figures for a HuRef comparison: per-slice correlations against the null, and the two images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .core import HurefFingerprint, HurefResult


def plot_comparison(owner: HurefFingerprint | None, suspect: HurefFingerprint | None, result: HurefResult,
                    path: str | Path) -> Path:
    """Bar chart of per-slice correlations, with the ICS, the null's spread and the threshold.

    The fingerprints are not needed (the result holds the correlations); the signature is the one
    ``Method.plot`` has for every method.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    names = list(result.slice_correlations)
    values = [100 * result.slice_correlations[n] for n in names]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(names) + 2), 3.6), constrained_layout=True)
    ax.bar(range(len(names)), values, color="#3e7d3a")
    ax.axhline(result.score, color="black", lw=1.2, label=f"ICS {result.score:.1f}")
    null = result.null
    if null is not None and null.n:
        ax.axhspan(null.mean - 2 * null.std, null.mean + 2 * null.std,
                   color="#999999", alpha=0.3, label=f"null mean ± 2 sd (n={null.n})")
        if np.isfinite(result.threshold):
            ax.axhline(result.threshold, color="#b03a2e", ls="--", lw=1, label=f"threshold {result.threshold:.1f}")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(min(-10.0, min(values, default=0) - 5), 105)
    ax.set_ylabel("100 × Pearson correlation")
    ax.set_title(f"{result.method}: {result.verdict.value} (p = {result.p_value:.2g})", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def side_by_side(owner: HurefFingerprint, suspect: HurefFingerprint, path: str | Path,
                 result: HurefResult | None = None) -> Path:
    """The owner's and the suspect's fingerprint images next to each other, with the scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .image import fingerprint_image, image_similarity

    path = Path(path)
    images = [fingerprint_image(owner), fingerprint_image(suspect)]
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.4), constrained_layout=True)
    for ax, img, fp, who in zip(axes, images, (owner, suspect), ("owner", "suspect"), strict=True):
        ax.imshow(img)
        ax.set_title(f"{who}: {Path(fp.model).name}", fontsize=9)
        ax.axis("off")
    line = f"image similarity {image_similarity(*images):.2f}"
    if result is not None:
        line = f"ICS {result.score:.1f}  ·  {result.verdict.value}  ·  p = {result.p_value:.2g}  ·  " + line
    fig.suptitle(line, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fingerprint_images(owner: str | Path, suspect: str | Path, path: str | Path, *, result: HurefResult | None = None,
                       layers: tuple[int, ...] | str | None = None) -> Path:
    """Side-by-side images of two models (or saved fingerprint files), ``invariant`` mode."""
    from .core import HUREF, INVARIANT, pair_fingerprints

    method = HUREF if result is not None and result.method == "huref" else INVARIANT
    config = method.configure(layers=layers)
    owner_fp, suspect_fp, _ = pair_fingerprints(owner, suspect, config)
    return side_by_side(owner_fp, suspect_fp, path, result)
