"""The ``llm-lineage`` command: parse, call the library, render. Errors are mapped here, once."""

from __future__ import annotations

import os
import sys

from ..errors import InputError, LineageError
from ._render import err_console


def main() -> None:
    from .app import app

    try:
        _require_utf8(sys.argv[1:])
        app()
    except LineageError as exc:
        if os.environ.get("LLM_LINEAGE_DEBUG"):
            raise
        err_console.print(f"error: {exc}" + (f"\nhint: {exc.hint}" if exc.hint else ""),
                          markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None


def _require_utf8(arguments: list[str]) -> None:
    """Refuse an argument with bytes that are not UTF-8 (Python keeps them as surrogates): the
    tokenizer and safetensors readers, written in Rust, cannot open such a path."""
    for argument in arguments:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            shown = argument.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            raise InputError(f"argument {shown} is not valid UTF-8",
                             hint="rename the file or folder (or link it under a UTF-8 name)") from None
