"""From what a user types to a folder the readers open: a path, a hub id, or a PEFT adapter."""

from __future__ import annotations

from pathlib import Path

from .hub import resolve_model
from .peft_adapter import is_adapter_folder, merged_model


def locate_model(spec: str | Path, *, download: bool = False, base: str | Path | None = None) -> Path:
    """``spec`` as a local model path: itself when it exists, a Hugging Face cache snapshot for
    ``ORG/NAME[@REVISION]`` (fetched only with ``download``), and for a PEFT adapter folder its
    base (``base``, else the one it names) with the adapter merged in."""
    path = resolve_model(spec, download=download)
    if is_adapter_folder(path):
        return merged_model(path, base=base, download=download)
    return path
