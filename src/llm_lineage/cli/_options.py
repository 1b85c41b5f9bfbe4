"""Annotated options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
AllowPickleOpt = Annotated[bool, typer.Option("--allow-pickle",
                           help="Load *.bin/*.pt pickle checkpoints (weights_only=True). Only for files you trust.")]
ModelArg = Annotated[Path, typer.Argument(help="Model directory, .safetensors or .gguf file.", show_default=False)]
CacheDirOpt = Annotated[Path | None, typer.Option("--cache-dir", help="Where built models and results are kept.")]
