"""Register many models at once: fingerprinting in parallel on Ray, entries committed by the driver.

Fingerprinting is I/O-bound work per model that needs no database: each Ray task opens one model,
streams its tensors, writes its blobs to the registry's blob folder (a folder every worker
reaches: local disk on one machine, a shared file system on a cluster) and returns the entry's
rows. The driver inserts each as it arrives, one transaction per model, so a model that fails is
reported and the others land, and a run killed midway keeps every entry committed so far.
Resumable: a model whose weight files (sha256) are already registered is skipped.

With ``workers=1`` (or without Ray) the same work runs in this process, one model at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, LineageError
from ..progress import progress as progress_bar
from .provenance import sha256_file, weight_files
from .store import Registry, _choose_methods, fingerprint_for_registry


@dataclass
class AddManyReport:
    added: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)   # model -> why (already registered)
    failed: dict[str, str] = field(default_factory=dict)    # model -> the one-line error
    workers: int = 1
    ray: bool = False


def models_in(source: str | Path) -> list[Path]:
    """A folder's model directories and weight files, or a text file's paths (one per line, # comments)."""
    from ..references import folder_models

    source = Path(source)
    if source.is_dir():
        models = folder_models(source)
        if not models:
            raise InputError(f"{source} holds no model directory or weight file")
        return models
    if not source.is_file():
        raise InputError(f"{source} is neither a folder of models nor a list of model paths")
    lines = [line.strip() for line in source.read_text(encoding="utf-8").splitlines()]
    return [Path(line).expanduser() for line in lines if line and not line.startswith("#")]


def add_many(registry: Registry, models: Sequence[str | Path], *, methods: Sequence[str] | None = None,
             workers: int = 1, ray_address: str | None = None, progress: bool = False) -> AddManyReport:
    """Fingerprint ``models`` (in parallel on Ray when ``workers > 1`` or an address is given) and
    register each under its own name; see the module docstring."""
    if workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    chosen = _choose_methods(methods)
    report = AddManyReport(workers=workers)
    registered = {_hashes(e.provenance) for e in registry.entries()}
    todo = []
    for model in models:
        try:
            hashes = frozenset(sha256_file(p) for p in _files(model))
        except (LineageError, OSError) as exc:
            report.failed[str(model)] = str(exc)
            continue
        if hashes in registered:
            report.skipped[str(model)] = "its weight files are registered already"
        else:
            todo.append(model)
    use_ray = bool(todo) and (workers > 1 or ray_address is not None)
    results = _on_ray(todo, chosen, registry.blob_dir, workers, ray_address) if use_ray else \
        _in_process(todo, chosen, registry.blob_dir)
    report.ray = use_ray
    with progress_bar("registering models", total=len(todo)) as bar:
        for model, outcome in results:
            if isinstance(outcome, str):
                report.failed[str(model)] = outcome
            else:
                name = outcome[0]
                try:
                    registry.insert(*outcome)
                    report.added.append(name)
                except LineageError as exc:
                    report.failed[str(model)] = str(exc)
            if progress:
                bar.advance()
    return report


def _in_process(models: Sequence[str | Path], methods: list[str], blob_dir: Path) -> Any:
    for model in models:
        yield model, _prepare(str(model), methods, str(blob_dir))


def _on_ray(models: Sequence[str | Path], methods: list[str], blob_dir: Path, workers: int,
            ray_address: str | None) -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("parallel registration needs Ray", hint='pip install "llm-lineage[scale]", '
                                                                 "or pass --workers 1") from None
    started = not ray.is_initialized()
    if started:
        if ray_address:
            ray.init(address=ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1)(_prepare)
        pending = {task.remote(str(m), methods, str(blob_dir)): m for m in models}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                model = pending.pop(ref)
                try:
                    yield model, ray.get(ref)
                except Exception as exc:  # a worker that died: this model fails, the others go on
                    yield model, f"worker failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        if started:
            ray.shutdown()


def _prepare(model: str, methods: list[str], blob_dir: str) -> Any:
    """One model's entry rows, or its error as one line (runs in a Ray worker or in process)."""
    try:
        return fingerprint_for_registry(model, methods, Path(blob_dir))
    except LineageError as exc:
        return str(exc)


def _files(model: str | Path) -> list[Path]:
    from ..weights import open_checkpoint

    return weight_files(open_checkpoint(model))


def _hashes(provenance: dict[str, Any]) -> frozenset[str]:
    return frozenset((provenance.get("weight_files") or {}).values())
