"""Options of the invariant-terms fingerprint (HuRef), one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import InputError

Mode = Literal["invariant", "huref"]
MODES: tuple[str, ...] = ("invariant", "huref")


@dataclass(frozen=True)
class HurefConfig:
    """How the invariant terms are formed and calibrated.

    Parameters
    ----------
    mode : {"invariant", "huref"}
        ``huref``: the paper's terms on the stored weights. ``invariant`` (default): norm gains
        folded into the input-side weights first, and an FFN term that survives residual
        rotation (see :mod:`.core`).
    layers : tuple of int or "all"
        Blocks to read; negative indices count from the last block (default: the last two).
    n_tokens : int
        Size of the token set X (the paper: 4096 least frequent tokens).
    tokens : tuple of str, optional
        A user-given token set (token strings as the vocabulary spells them); overrides the
        least-frequent selection.
    alpha : float
        p-value below which the verdict is ``derived``.
    cache : bool
        Keep fingerprints and null scores on disk under ``$LLM_LINEAGE_CACHE``.
    """

    mode: Mode = "invariant"
    layers: tuple[int, ...] | Literal["all"] = (-2, -1)
    n_tokens: int = 4096
    tokens: tuple[str, ...] | None = None
    alpha: float = 0.01
    cache: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown HuRef mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.n_tokens < 2:
            raise InputError(f"n_tokens must be at least 2, not {self.n_tokens}")
        if self.layers != "all" and (not isinstance(self.layers, tuple) or not self.layers):
            raise InputError(f"layers must be 'all' or a non-empty tuple of block indices, not {self.layers!r}")
