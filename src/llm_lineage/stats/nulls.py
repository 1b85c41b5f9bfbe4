"""Reference "unrelated" models for null distributions, and a disk cache of null scores.

A white-box method calibrates a score between an owner and a suspect against the scores between
the owner and models known to be unrelated to it. :func:`reference_models` gathers them:

1. zoo models of the owner's family (``zoo.build``, seeds :data:`ZOO_NULL_SEEDS`, trained as long
   as the zoo's standard victim), with the owner's sizes when the owner is small enough to
   rebuild; otherwise the zoo's default sizes with the owner's vocabulary size;
2. the real checkpoints in the shared model folder (``$LLM_LINEAGE_SHARED_MODELS``, else
   ``../shared/models`` from the working directory), one per known family, leaving out the
   owner's and the suspect's families and the very same files;
3. models the user names (``--null PATH``).

:func:`cached_null_scores` keeps each null score under (method, owner fingerprint digest, null
model identity), so a second compare against the same owner costs nothing. Methods own how a
score is computed; this module owns which models and the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibration import NullCalibration

ZOO_NULL_SEEDS: tuple[int, ...] = (101, 102, 103, 104, 105, 106, 107, 108)
ZOO_NULL_TRAIN_STEPS = 300  # as the zoo's standard victim: a null of weaker models would flatter suspects
_REBUILD_MAX_PARAMETERS = 5_000_000

# ground truth of the shared folder's README: checkpoints derived from one another share a family
_SHARED_FAMILIES = {"stories260k-q80": "stories260k", "stories260K_q80": "stories260k",
                    "stories260K": "stories260k", "llama2xs_model": "llama2xs", "llama2xs_ckpt": "llama2xs"}


@dataclass(frozen=True)
class NullSummary:
    """What a verdict was calibrated against, for reports."""

    n: int
    mean: float
    std: float
    max: float
    models: tuple[str, ...]
    source: str


def summarize(null: NullCalibration, models: Sequence[str | Path] = ()) -> NullSummary:
    scores = np.asarray(null.scores, dtype=np.float64)
    return NullSummary(
        n=null.n,
        mean=float(scores.mean()) if len(scores) else float("nan"),
        std=float(scores.std(ddof=1)) if len(scores) > 1 else float("nan"),
        max=float(scores.max()) if len(scores) else float("nan"),
        models=tuple(str(m) for m in models),
        source=null.source,
    )


def shared_models_dir() -> Path | None:
    """The shared real checkpoints' folder, if present."""
    env = os.environ.get("LLM_LINEAGE_SHARED_MODELS")
    root = Path(env) if env else Path.cwd().parent / "shared" / "models"
    return root if (root / "hf").is_dir() else None


def family(path: str | Path) -> str:
    name = Path(path).name if Path(path).is_dir() else Path(path).stem
    return _SHARED_FAMILIES.get(name, name)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def zoo_overrides(config) -> tuple[str, dict]:
    """Zoo architecture and size overrides that make a null model shaped like the owner."""
    from .. import zoo

    arch = config.model_type if config.model_type in zoo.ARCHITECTURES else "llama"
    defaults = zoo._configs()[arch]()  # the zoo's own sizes for this family
    wanted = {"vocab_size": config.vocab_size}
    approx_params = config.vocab_size * config.hidden_size * 2 + config.num_hidden_layers * 12 * config.hidden_size**2
    if arch in ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma") and approx_params <= _REBUILD_MAX_PARAMETERS:
        wanted.update(hidden_size=config.hidden_size, num_hidden_layers=config.num_hidden_layers,
                      num_attention_heads=config.num_attention_heads,
                      num_key_value_heads=config.num_key_value_heads, head_dim=config.head_dim,
                      tie_word_embeddings=config.tie_word_embeddings)
        if config.intermediate_size:
            wanted["intermediate_size"] = config.intermediate_size
    # only what differs, so owners shaped like the zoo reuse the zoo's cached models
    overrides = {k: v for k, v in wanted.items() if getattr(defaults, k, None) != v}
    return arch, overrides


def reference_models(owner, *, n_zoo: int = 4, extra: Iterable[str | Path] = (),
                     exclude: Iterable[str | Path] = (), include_shared: bool = True,
                     train_steps: int = ZOO_NULL_TRAIN_STEPS, progress: bool = False) -> list[Path]:
    """Paths of models unrelated to ``owner`` (a ``Checkpoint`` or a ``ModelConfig``).

    ``exclude`` lists the owner's and the suspect's paths: those files, and shared checkpoints
    of their families, are never in the null. Zoo models are built once and cached.
    """
    from .. import zoo

    config = getattr(owner, "config", owner)
    excluded = [Path(p) for p in exclude]
    if hasattr(owner, "path"):
        excluded.append(Path(owner.path))
    if n_zoo > len(ZOO_NULL_SEEDS):
        raise ValueError(f"at most {len(ZOO_NULL_SEEDS)} zoo null models")
    arch, overrides = zoo_overrides(config)
    models = [zoo.build(arch, seed=seed, train_steps=train_steps, progress=progress, **overrides)
              for seed in ZOO_NULL_SEEDS[:n_zoo]]
    if include_shared and (shared := shared_models_dir()) is not None:
        skip_families = {family(p) for p in excluded}
        seen: set[str] = set()
        for candidate in sorted((shared / "hf").iterdir()):
            fam = family(candidate)
            if not (candidate / "config.json").is_file() or fam in skip_families or fam in seen:
                continue
            seen.add(fam)
            models.append(candidate)
    models += [Path(p) for p in extra]
    out: list[Path] = []
    for model in models:
        if any(_same_file(model, e) for e in excluded) or any(_same_file(model, m) for m in out):
            continue
        out.append(model)
    return out


def model_identity(path: str | Path) -> str:
    """Resolved path plus size and mtime of its files: changes when the weights do."""
    path = Path(path).resolve()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files
             if p.suffix in (".safetensors", ".gguf", ".json", ".bin", ".pt")]
    return hashlib.sha256(json.dumps([str(path), stats]).encode()).hexdigest()[:20]


def _cache_root() -> Path:
    from .. import zoo

    return zoo.cache_dir().parent / "nulls"


def cached_null_scores(method: str, owner_key: str, models: Sequence[str | Path],
                       score: Callable[[Path], float], *, use_cache: bool = True) -> list[float]:
    """``score(model)`` for every null model, each kept on disk under (method, owner_key, model).

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
            cache[key] = float(score(Path(model)))
            changed = True
        out.append(cache[key])
    if use_cache and changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({k: (v if np.isfinite(v) else None) for k, v in cache.items()}))
        tmp.replace(path)
    return out
