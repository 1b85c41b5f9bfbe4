"""The ``llm-lineage`` command: parse, call the library, render. Errors are mapped here, once."""

from __future__ import annotations

import os
import sys

from ..errors import InputError, LineageError
from ._render import err_console

# the optional extras (pyproject.toml) and the modules each brings: a command that needs one of
# them names the extra to install instead of ending in a traceback
_EXTRA_OF_MODULE = {"fastapi": "serve", "uvicorn": "serve", "sklearn": "stylometry", "psycopg": "scale",
                    "ray": "scale", "ezkl": "zk", "onnx": "zk", "llama_cpp": "llamacpp"}


def main() -> None:
    from .app import app

    try:
        _require_utf8(sys.argv[1:])
        app()
    except ModuleNotFoundError as exc:
        extra = _EXTRA_OF_MODULE.get((exc.name or "").partition(".")[0])
        if extra is None or os.environ.get("LLM_LINEAGE_DEBUG"):
            raise
        _exit(InputError(f"this command needs {exc.name}, which is not installed",
                         hint=f'pip install "llm-lineage[{extra}]"'))
    except LineageError as exc:
        if os.environ.get("LLM_LINEAGE_DEBUG"):
            raise
        _exit(exc)


def _exit(exc: LineageError) -> None:
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
