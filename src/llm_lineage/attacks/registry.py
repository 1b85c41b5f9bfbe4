"""Attack kinds by name, and :func:`derive`, which runs one and records it in ``attack.json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import zoo

ATTACKS: dict[str, Callable[..., Any]] = {}


def attack(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        ATTACKS[name] = fn
        return fn
    return register


def derive(victim: str | Path, kind: str, out_dir: str | Path, *, progress: bool = False, **options: Any) -> Path:
    """Apply attack ``kind`` to ``victim`` and save the suspect in ``out_dir`` (reused if identical)."""
    from . import finetune  # noqa: F401  (registers its kinds)

    if kind not in ATTACKS:
        raise ValueError(f"unknown attack {kind!r}; choose from {', '.join(sorted(ATTACKS))}")
    out_dir = Path(out_dir)
    manifest = {"victim": str(Path(victim).resolve()), "kind": kind, "options": options}
    if (out_dir / "attack.json").is_file() and json.loads((out_dir / "attack.json").read_text()) == manifest:
        return out_dir
    model = zoo.load(victim)
    model = ATTACKS[kind](model, progress=progress, **options) or model
    return zoo.save(model, out_dir, extra={"attack.json": manifest})
