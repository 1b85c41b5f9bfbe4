"""``llm-lineage plot-profiles M1 M2 ...``: overlay many models' attention std profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _render
from ._options import AllowPickleOpt, JsonOpt

ModelsArg = Annotated[list[Path], typer.Argument(help="Model directories, .safetensors or .gguf files.",
                                                 show_default=False)]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Where to write the figure (.png, .pdf, .svg).")]
RawOpt = Annotated[bool, typer.Option("--raw", help="Plot the standard deviations as they are, not z-scored.")]


def plot_profiles(models: ModelsArg, out: OutOpt = Path("std-profiles.png"), raw: RawOpt = False,
                  as_json: JsonOpt = False, allow_pickle: AllowPickleOpt = False) -> None:
    """Overlay the per-layer Q/K/V/O std profiles of MODELS in one figure; print pairwise scores."""
    from ..methods.stdprofile import plot_models

    figure = plot_models(models, out, raw=raw, progress=not as_json, allow_pickle=allow_pickle)
    if as_json:
        _render.print_json(figure)
    else:
        _render.std_profile_scores(figure)
