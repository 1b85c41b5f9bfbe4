"""``llm-lineage search SUSPECT``: which registered owner, if any, does SUSPECT descend from?"""

from __future__ import annotations

from typing import Annotated

import typer

from ..registry import Registry, search as run_search
from . import _render
from ._options import JsonOpt
from .registry import RegistryOpt

SuspectArg = Annotated[str, typer.Argument(
    help="Model directory / weight file (white-box) or http(s):// OpenAI-compatible endpoint (black-box).",
    show_default=False)]


def search(suspect: SuspectArg, registry: RegistryOpt = None,
           top: Annotated[int, typer.Option("--top", min=1, help="Candidates to show, best first.")] = 5,
           shortlist: Annotated[int | None, typer.Option(
               "--shortlist", min=1, help="Owners compared in full after the summary shortlist (default 2 x top).")] = None,
           as_json: JsonOpt = False) -> None:
    """Rank registered owners by the evidence that SUSPECT descends from them."""
    with Registry(registry) as reg:
        result = run_search(suspect, reg, top=top, shortlist_size=shortlist, progress=not as_json)
    _render.search_result(result, as_json=as_json)
