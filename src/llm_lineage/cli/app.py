"""The typer application: one module per command, joined here."""

from __future__ import annotations

import typer

from . import demo, inspect

app = typer.Typer(
    name="llm-lineage",
    help="Does this suspect language model descend from mine? Fingerprints with calibrated verdicts.",
    no_args_is_help=True,
    add_completion=False,
    # locals can hold API keys: never print them in a traceback
    pretty_exceptions_show_locals=False,
)

app.command("inspect")(inspect.inspect)
app.command("demo")(demo.demo)
# --- commands added by method packages ---
# --- end commands ---
