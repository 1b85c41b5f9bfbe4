"""What every method offers the rest of the package (CLI, evaluation, registry).

A method package (``methods/<name>/``) exposes ``fingerprint``, ``compare`` and ``verify`` and
registers a :class:`MethodSpec` in ``methods.METHODS``. Fingerprints are frozen dataclasses whose
array fields are NumPy arrays (saved by ``fingerprint_io``); results are frozen dataclasses that
carry at least ``method``, ``score``, ``p_value`` and ``verdict``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..stats import Verdict


class MethodResult(Protocol):
    method: str
    score: float
    p_value: float
    verdict: Verdict


@dataclass(frozen=True)
class MethodSpec:
    name: str
    kind: Literal["white-box", "black-box"]
    fingerprint: Callable[..., Any]   # (Checkpoint, config) -> fingerprint dataclass
    compare: Callable[..., Any]       # (owner_fp, suspect_fp, *, null=..., config=...) -> result
    verify: Callable[..., Any]        # (owner, suspect, config) -> result: the one entry point
    describe: str = ""                # one line for reports: what it measures, what it resists
    plot: Callable[..., Any] | None = None
