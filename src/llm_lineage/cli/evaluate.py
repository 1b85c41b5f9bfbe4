"""``llm-lineage evaluate --victim MODEL --attacks SPEC -o REPORT_DIR``: every method against every attack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..evaluation.presets import PRESETS
from . import _render
from ._options import JsonOpt

VictimOpt = Annotated[Path, typer.Option("--victim", help="The owner's model directory.", show_default=False)]
AttacksOpt = Annotated[str, typer.Option(
    "--attacks", help=f"Comma-separated kind[:option=value...] entries or presets ({', '.join(PRESETS)}), "
                      "e.g. 'finetune:steps=50,quantize:bits=4,reparam'.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Report directory (report.html, results.json, "
                                      "derived models, results cache).")]


def evaluate(victim: VictimOpt, out: OutOpt, attacks: AttacksOpt = "small",
             unrelated: Annotated[list[Path] | None, typer.Option(
                 "--unrelated", help="An unrelated model directory (repeatable): a negative control.")] = None,
             methods: Annotated[list[str] | None, typer.Option(
                 "--method", help="Restrict to these registered methods (repeatable).")] = None,
             null: Annotated[list[Path] | None, typer.Option(
                 "--null", help="A model unrelated to VICTIM for the methods' nulls (repeatable).")] = None,
             cache: Annotated[Path | None, typer.Option(help="Results cache (default OUT/cache.json).")] = None,
             as_json: JsonOpt = False) -> None:
    """Derive suspects from VICTIM, score every method on each, write report.html and results.json."""
    from ..evaluation import evaluate as run_evaluation
    from ..evaluation import write_report

    evaluation = run_evaluation(victim, attacks, out, unrelated=unrelated or (), methods=methods, cache=cache,
                                references=null or (), progress=not as_json)
    files = write_report(evaluation, out)
    _render.evaluation(evaluation, files, as_json=as_json)
