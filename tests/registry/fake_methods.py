"""Small stand-in methods for testing the registry's mechanics (not collected by pytest).

``test-gram`` is a real, if crude, method: the embedding-Gram summary of 48 ``embed_tokens`` rows,
judged against whatever null it is given. (On ``lm_head`` rows it would fail: trained zoo models'
output heads share a Gram structure of about 0.99, which the registry null rightly calls
inconclusive.) ``test-needs-bias`` never applies (no zoo model has an lm_head
bias) and ``zz-slow`` announces itself in a marker file and then blocks, so that a test can kill an
``add`` at a known point: after the other methods' blobs are written, before the commit.
The fingerprints are ``llm_lineage`` dataclasses because blobs only ever import those.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llm_lineage.errors import MissingTensor
from llm_lineage.methods import METHODS, MethodSpec
from llm_lineage.registry.summary import Summary, summarise, token_ids_for
from llm_lineage.stats import NullCalibration, Verdict, decide


@dataclass(frozen=True)
class GramResult:
    method: str
    score: float
    p_value: float
    verdict: Verdict


def gram_fingerprint(ckpt, config=None) -> Summary:
    rows = ckpt.tensor("embed_tokens")
    return summarise(rows, token_ids_for(rows.shape[0], 48), "embed_tokens")


def gram_compare(owner: Summary, suspect: Summary, *, null: NullCalibration | None = None, config=None) -> GramResult:
    score = float(np.dot(owner.vector, suspect.vector))
    if null is None or null.n < 2:
        return GramResult("test-gram", score, math.nan, Verdict.INCONCLUSIVE)
    return GramResult("test-gram", score, null.p_value(score), decide(score, null, best_possible=1.0))


def needs_bias(ckpt, config=None):
    raise MissingTensor(f"{ckpt.path} has no lm_head bias")


def slow_fingerprint(ckpt, config=None) -> Summary:
    marker = os.environ.get("REGISTRY_TEST_MARKER")
    if marker:
        Path(marker).write_text("fingerprinting")
    time.sleep(float(os.environ.get("REGISTRY_TEST_SLEEP", "60")))
    return gram_fingerprint(ckpt)


def _unused(*args, **kwargs):
    raise NotImplementedError("the registry never calls verify")


SPECS = {
    "test-gram": MethodSpec("test-gram", "white-box", gram_fingerprint, gram_compare, _unused),
    "test-needs-bias": MethodSpec("test-needs-bias", "white-box", needs_bias, gram_compare, _unused),
    "zz-slow": MethodSpec("zz-slow", "white-box", slow_fingerprint, gram_compare, _unused),
}


def install(names=("test-gram", "test-needs-bias")) -> None:
    for name in names:
        METHODS[name] = SPECS[name]
