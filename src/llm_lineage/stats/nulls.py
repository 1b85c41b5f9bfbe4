"""Summaries of null distributions and a disk cache of null scores (pure: no models are built here).

Which models are unrelated to an owner is decided above this package
(:mod:`llm_lineage.references`) and handed in. :func:`cached_null_scores` keeps each null score
under (method, owner fingerprint digest, null model identity), so a second compare against the
same owner costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LineageError
from .calibration import NullCalibration


@dataclass(frozen=True)
class NullSummary:
    """What a verdict was calibrated against, for reports."""

    n: int
    mean: float
    std: float
    max: float
    models: tuple[str, ...]
    source: str


def summarize(null: NullCalibration) -> NullSummary:
    scores = np.asarray(null.scores, dtype=np.float64)
    return NullSummary(
        n=null.n,
        mean=float(scores.mean()) if len(scores) else float("nan"),
        std=float(scores.std(ddof=1)) if len(scores) > 1 else float("nan"),
        max=float(scores.max()) if len(scores) else float("nan"),
        models=null.models,
        source=null.source,
    )


def model_identity(path: str | Path) -> str:
    """Resolved path plus size and mtime of its files: changes when the weights do."""
    path = Path(path).resolve()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files
             if p.suffix in (".safetensors", ".gguf", ".json", ".bin", ".pt")]
    return hashlib.sha256(json.dumps([str(path), stats]).encode()).hexdigest()[:20]


def _cache_root() -> Path:
    from ..paths import cache_root

    return cache_root() / "nulls"


def null_score(score: Callable[[Path], float], model: str | Path) -> float:
    """``score(model)``, or NaN when the method cannot read or score that model (a LineageError:
    another vocabulary, another architecture): such a model is no evidence of how unrelated models
    score, and ``calibrate`` leaves NaN out."""
    try:
        return float(score(Path(model)))
    except LineageError:
        return float("nan")


def cached_null_scores(method: str, owner_key: str, models: Sequence[str | Path],
                       score: Callable[[Path], float], *, use_cache: bool = True) -> list[float]:
    """:func:`null_score` of every null model, each kept on disk under (method, owner_key, model).

    ``owner_key`` must change whenever the owner's fingerprint or the method's options do (a
    digest of the fingerprint is the natural choice). Non-finite scores are kept as NaN and
    left out later by ``calibrate``.
    """
    path = _cache_root() / f"{method}-{owner_key[:32]}.json"
    cache: dict[str, float] = {}
    if use_cache and path.is_file():
        try:
            cache = {k: float("nan") if v is None else float(v) for k, v in json.loads(path.read_text()).items()}
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
            cache = {}  # a damaged cache entry is recomputed, never trusted
    out, changed = [], False
    for model in models:
        key = model_identity(model)
        if key not in cache:
            cache[key] = null_score(score, model)
            changed = True
        out.append(cache[key])
    if use_cache and changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({k: (v if np.isfinite(v) else None) for k, v in cache.items()}))
        tmp.replace(path)
    return out
