"""Options of the parameter cosine similarity baseline."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PCSConfig:
    """
    Parameters
    ----------
    include_vectors : bool
        Also pair 1-D tensors (norm gains, biases). Off by default: gains sit near 1 in every
        model, and at small hidden sizes their mass alone would push unrelated pairs towards 1.
    n_zoo_nulls, null_paths, alpha, cache
        As for HuRef: the null is PCS of the owner with unrelated models.
    """

    include_vectors: bool = False
    n_zoo_nulls: int = 4
    null_paths: tuple[Path, ...] = field(default_factory=tuple)
    alpha: float = 0.01
    cache: bool = True

    def with_options(self, **options: Any) -> PCSConfig:
        given = {k: v for k, v in options.items() if v is not None}
        if "null_paths" in given:
            given["null_paths"] = tuple(Path(p) for p in given["null_paths"])
        return replace(self, **given)
