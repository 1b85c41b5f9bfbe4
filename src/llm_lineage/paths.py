"""Where llm-lineage keeps things on disk. Imports nothing heavy: the API query path uses it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_CACHING = ContextVar("llm_lineage_fingerprint_caching", default=True)


def cache_root() -> Path:
    """``$LLM_LINEAGE_CACHE``, else the user cache directory: zoo models, fingerprints, nulls, queries."""
    root = os.environ.get("LLM_LINEAGE_CACHE")
    if root:
        return Path(root).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("llm-lineage"))


def fingerprint_caching() -> bool:
    """Whether methods may answer from (and write to) their fingerprint caches."""
    return _CACHING.get()


@contextmanager
def uncached() -> Iterator[None]:
    """Within this block every fingerprint is computed from the weights, never read from a cache
    (an audit must see which weights a fingerprint reads)."""
    token = _CACHING.set(False)
    try:
        yield
    finally:
        _CACHING.reset(token)
