"""The ``llm-lineage`` command: parse, call the library, render. Errors are mapped here, once."""

from __future__ import annotations

import os

from ..errors import LineageError
from ._render import err_console


def main() -> None:
    from .app import app

    try:
        app()
    except LineageError as exc:
        if os.environ.get("LLM_LINEAGE_DEBUG"):
            raise
        err_console.print(f"error: {exc}" + (f"\nhint: {exc.hint}" if exc.hint else ""),
                          markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
