"""Attack kinds by name, and :func:`derive`, which runs one and records it in ``attack.json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import zoo
from ..errors import InputError
from ..weights.hf_model import require_finite

ATTACKS: dict[str, Callable[..., Any]] = {}

# the tokenizer of the victim being attacked, for attacks that train on text (default: the zoo's)
_VICTIM_TOKENIZER: ContextVar[Any] = ContextVar("victim_tokenizer", default=None)


@dataclass(frozen=True)
class Derived:
    """What an attack returns when it changes more than the weights (e.g. the tokenizer's ids)."""

    model: Any
    tokenizer: Any = None


def attack(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        ATTACKS[name] = fn
        return fn
    return register


def victim_tokenizer():
    """The tokenizer saved with the victim (inside :func:`derive`), else the zoo's."""
    return _VICTIM_TOKENIZER.get() or zoo.tokenizer()


_MODULES = ("finetune", "lora", "pretrain", "quantize", "prune", "reparam", "moe", "gradnormlorp", "merge",
            "distill")


def load_kinds() -> dict[str, Callable[..., Any]]:
    """Import every attack module so that all kinds are registered; returns :data:`ATTACKS`."""
    import importlib

    for module in _MODULES:
        try:
            importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:  # a kind module not in this installation; the others still work
            if exc.name != f"{__package__}.{module}":
                raise
    return ATTACKS


# other spellings people use for a kind (the GradNormLoRP paper's name, hyphenated)
ALIASES = {"gradnorm-lorp": "gradnormlorp"}


def derive(victim: str | Path, kind: str, out_dir: str | Path, *, progress: bool = False, **options: Any) -> Path:
    """Apply attack ``kind`` to ``victim`` and save the suspect in ``out_dir`` (reused if identical)."""
    load_kinds()
    kind = ALIASES.get(kind, kind)
    if kind not in ATTACKS:
        raise InputError(f"unknown attack {kind!r}; choose from {', '.join(sorted(ATTACKS))}")
    out_dir = Path(out_dir)
    manifest = {"victim": str(Path(victim).resolve()), "kind": kind, "options": options}
    if (out_dir / "attack.json").is_file() and json.loads((out_dir / "attack.json").read_text()) == manifest:
        return out_dir
    if not (Path(victim) / "config.json").is_file():
        raise InputError(f"victim {victim} is not a model directory with config.json")
    model = zoo.load(victim)  # the one gate: a malformed or pickled victim stops here
    tokenizer = _load_tokenizer(Path(victim))
    token = _VICTIM_TOKENIZER.set(tokenizer)
    try:
        try:
            out = ATTACKS[kind](model, progress=progress, **options)
        except TypeError as exc:  # an option the attack does not take: a user error, not a bug
            if "unexpected keyword argument" not in str(exc):
                raise
            raise InputError(f"attack {kind!r}: {exc}") from None
    finally:
        _VICTIM_TOKENIZER.reset(token)
    if isinstance(out, Derived):
        model, tokenizer = out.model, out.tokenizer or tokenizer
    elif out is not None:
        model = out
    require_finite(model, f"attack {kind!r} on {victim} (nothing written)")  # a damaged copy is never saved
    return zoo.save(model, out_dir, extra={"attack.json": manifest}, tokenizer_object=tokenizer)


def _load_tokenizer(victim: Path):
    if not any((victim / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        return zoo.tokenizer()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(victim)
