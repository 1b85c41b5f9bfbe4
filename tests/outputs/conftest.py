"""A fake local model from a NumPy lm_head: exact logits known, no transformers, no tokenizer."""

from __future__ import annotations

import zlib

import numpy as np
import pytest


class FakeModel:
    """Duck-types what :class:`SimulatedAPI` needs of a LocalModel: logits = lm_head @ z(prompt)."""

    def __init__(self, lm_head: np.ndarray, dtype: str = "float32", name: str = "fake") -> None:
        self.lm_head = lm_head
        self.vocab_size = lm_head.shape[0]
        self.dtype = dtype
        self.name = name
        self.n_forward = 0

    def forward(self, prompt: str) -> np.ndarray:
        self.n_forward += 1
        z = np.random.default_rng(zlib.crc32(prompt.encode())).normal(size=self.lm_head.shape[1])
        return (self.lm_head @ z).astype(np.float32)


@pytest.fixture
def fake_model():
    rng = np.random.default_rng(0)
    return FakeModel(rng.normal(scale=0.5, size=(200, 16)))
