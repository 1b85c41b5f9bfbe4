"""A small, honest fingerprint for exercising the harness: cosine of lm_head rows, with a null.

It is a real (if weak) method, registered only inside tests, so the harness's mechanics (caching,
orientation, access-mode variants, n/a pairs, metrics) are tested independently of the method
packages other issues provide.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from llm_lineage.errors import UnsupportedFormat
from llm_lineage.methods import MethodSpec
from llm_lineage.stats import Verdict, calibrate, decide
from llm_lineage.weights import open_checkpoint

CALLS: list[tuple[str, str]] = []


@dataclass(frozen=True)
class HeadCosineConfig:
    access: Literal["weights", "rows"] = "weights"


@dataclass(frozen=True)
class HeadCosineResult:
    method: str
    score: float            # 1 - |cos| between the centred lm_heads: a distance, lower is related
    p_value: float
    verdict: Verdict
    higher_is_related: bool
    n_queries: int


def _head(path: Path) -> np.ndarray:
    ckpt = open_checkpoint(path)
    if ckpt.config.model_type == "mixtral":
        raise UnsupportedFormat("head-cosine: test method refuses MoE suspects")
    return np.asarray(ckpt.tensor("lm_head"), dtype=np.float64)


def verify(owner, suspect, config: HeadCosineConfig = HeadCosineConfig()) -> HeadCosineResult:
    CALLS.append((config.access, Path(suspect).name))
    a, b = _head(owner), _head(suspect)
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)  # the shared mean direction of trained heads is no evidence

    def distance_to(other: np.ndarray) -> float:
        return 1 - abs(float(np.sum(a * other) / np.linalg.norm(a) / np.linalg.norm(other)))

    rng = np.random.default_rng(0)
    distance = distance_to(b)
    # null: the same suspect with its token rows shuffled, so rows no longer line up with the owner's
    null = calibrate([distance_to(b[rng.permutation(len(b))]) for _ in range(30)], higher_is_related=False)
    return HeadCosineResult("head-cosine", distance, null.p_value(distance), decide(distance, null), False,
                            n_queries=7 if config.access == "rows" else 0)


@pytest.fixture
def head_cosine(monkeypatch):
    from llm_lineage.methods import METHODS

    spec = MethodSpec(name="head-cosine", kind="black-box", fingerprint=_head, compare=None, verify=verify)
    monkeypatch.setitem(METHODS, "head-cosine", spec)
    CALLS.clear()
    return CALLS

