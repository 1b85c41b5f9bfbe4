"""``llm-lineage adapter-base ADAPTER CANDIDATE...``: which model a PEFT adapter was trained on (``adapter_base.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _render
from ._options import DownloadOpt, JsonOpt, model_path, unmerged_path

AdapterArg = Annotated[Path, typer.Argument(metavar="ADAPTER", parser=unmerged_path, show_default=False,
                       help="A PEFT adapter folder (adapter_config.json + adapter_model.safetensors) or its hub id.")]
CandidatesArg = Annotated[list[Path], typer.Argument(metavar="CANDIDATE...", parser=model_path, show_default=False,
                          help="Models the adapter may have been trained on.")]
PermutationsOpt = Annotated[int, typer.Option("--permutations", help="Random permutations of the null: the "
                            "p-value's floor is 1 / (N + 1).")]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="Family-wise error rate over the candidates.")]


def adapter_base(adapter: AdapterArg, candidates: CandidatesArg, permutations: PermutationsOpt = 999,
                 alpha: AlphaOpt = 0.01, as_json: JsonOpt = False, download: DownloadOpt = False) -> None:
    """Was ADAPTER trained on a CANDIDATE? Its B @ A deltas against each candidate's weights, with no merge."""
    from ..adapter_base import adapter_base as run
    from ..errors import InputError

    if not 0 < alpha < 1:
        raise InputError(f"--alpha must be between 0 and 1, not {alpha}")
    _render.adapter_base(run(adapter, list(candidates), permutations=permutations, alpha=alpha,
                             progress=not as_json), as_json=as_json)
