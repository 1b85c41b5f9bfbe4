"""``llm-lineage inspect MODEL``: what a checkpoint holds, as the fingerprints will read it."""

from __future__ import annotations

from . import _render
from ._options import AllowPickleOpt, BaseOpt, DownloadOpt, JsonOpt, ModelArg


def inspect(model: ModelArg, as_json: JsonOpt = False, allow_pickle: AllowPickleOpt = False,
            download: DownloadOpt = False, base: BaseOpt = None) -> None:
    """Print architecture, sizes, the roles found for each tensor, and dtypes."""
    from ..weights import open_checkpoint

    summary = open_checkpoint(model, allow_pickle=allow_pickle).summary()
    if as_json:
        _render.print_json(summary)
    else:
        _render.key_values(f"{summary['path']}", summary)
