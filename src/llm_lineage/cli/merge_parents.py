"""``llm-lineage merge-parents SUSPECT CANDIDATE...``: which candidates a merge was made from (``merges.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _render
from ._options import DownloadOpt, JsonOpt, model_path

SuspectArg = Annotated[Path, typer.Argument(metavar="SUSPECT", parser=model_path, show_default=False,
                       help="The merged model: a path, hub id or PEFT adapter folder.")]
CandidatesArg = Annotated[list[Path], typer.Argument(metavar="CANDIDATE...", parser=model_path, show_default=False,
                          help="Candidate parents, of the suspect's architecture.")]
BaseOpt = Annotated[Path | None, typer.Option("--base", parser=model_path, help="The parents' common base: weights "
                    "are then fitted on task vectors (task arithmetic, TIES, DARE).")]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="Family-wise error rate over the candidates.")]


def merge_parents(suspect: SuspectArg, candidates: CandidatesArg, base: BaseOpt = None, alpha: AlphaOpt = 0.01,
                  as_json: JsonOpt = False, download: DownloadOpt = False) -> None:
    """Which CANDIDATEs is SUSPECT a merge of, with what mixing weights, and which block came from whom?"""
    from ..errors import InputError
    from ..merges import merge_parents as decompose

    if not 0 < alpha < 1:
        raise InputError(f"--alpha must be between 0 and 1, not {alpha}")
    _render.merge_parents(decompose(suspect, list(candidates), base=base, alpha=alpha, progress=not as_json),
                          as_json=as_json)
