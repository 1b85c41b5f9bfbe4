"""Where llm-lineage keeps things on disk. Imports nothing heavy: the API query path uses it."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$LLM_LINEAGE_CACHE``, else the user cache directory: zoo models, fingerprints, nulls, queries."""
    root = os.environ.get("LLM_LINEAGE_CACHE")
    if root:
        return Path(root).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("llm-lineage"))
