"""llm-lineage: does this suspect language model descend from mine?

``Verdict`` and ``open_checkpoint`` are imported on first use, so that the command line's
``--help`` and the API query path stay light.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .errors import LineageError

try:
    __version__ = version("llm-lineage")   # one source: pyproject.toml
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_LAZY = {"Verdict": "stats", "open_checkpoint": "weights"}

__all__ = ["LineageError", "Verdict", "__version__", "open_checkpoint"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
