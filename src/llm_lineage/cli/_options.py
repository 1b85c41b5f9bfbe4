"""Annotated options shared by several commands, and the parsers that turn what a user types
for a model (a path, a hub id, a PEFT adapter folder) into a local path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

# this command's --download and --base, set by their callbacks; both options are eager, so they are
# processed before any argument's parser runs
_located_with: dict[str, Any] = {"download": False, "base": None}


def _remember(name: str) -> Any:
    def callback(value: Any) -> Any:
        _located_with[name] = value
        return value
    return callback


def model_path(spec: str) -> Path:
    """A model argument as a local path (weights/locate.py), with this command's --download and --base."""
    from ..weights.locate import locate_model

    return locate_model(spec, download=bool(_located_with["download"]), base=_located_with["base"])


def unmerged_path(spec: str) -> Path:
    """A model argument as a local path with a PEFT adapter folder left as it is (not merged)."""
    from ..weights.hub import resolve_model

    return resolve_model(spec, download=bool(_located_with["download"]))


def model_or_url(spec: str) -> str:
    """A suspect: an endpoint URL as given, anything else located as a model."""
    from ..outputs.source import is_url

    return spec if is_url(spec) else str(model_path(spec))


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
AllowPickleOpt = Annotated[bool, typer.Option("--allow-pickle",
                           help="Load *.bin/*.pt pickle checkpoints (weights_only=True). Only for files you trust.")]
ModelArg = Annotated[Path, typer.Argument(help="Model directory, .safetensors or .gguf file, hub id ORG/NAME or "
                     "ORG/NAME@REVISION, or PEFT adapter folder.", parser=model_path, show_default=False)]
CacheDirOpt = Annotated[Path | None, typer.Option("--cache-dir", help="Where built models and results are kept.")]
DownloadOpt = Annotated[bool, typer.Option(
    "--download", is_eager=True, callback=_remember("download"),
    help="Fetch a hub id (ORG/NAME, ORG/NAME@REVISION) that is not in the Hugging Face cache: only the files "
    "read.")]
BaseOpt = Annotated[str | None, typer.Option(
    "--base", is_eager=True, callback=_remember("base"),
    help="The base model of a PEFT adapter folder given as a model (default: the one its adapter_config.json names).")]
