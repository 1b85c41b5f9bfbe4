"""What a suspect can tell us about its next-token distribution: the ``OutputSource`` protocol.

Black-box methods see only this. Local models (``outputs/local.py``), simulated APIs and
OpenAI-compatible endpoints (``outputs/openai_endpoint.py``) implement it; each counts the
queries it was asked and reports what it can do in :class:`Capabilities`, probed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeGuard, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Capabilities:
    logits: bool = False                # full logit vector
    probs: bool = False                 # full probability / log-prob vector
    top_k: int = 0                      # most top_logprobs one query returns (0: none)
    logit_bias: bool = False            # accepts logit_bias
    bias_shifts_logprobs: bool = False  # returned log-probs reflect the bias (the paper's assumption)
    max_bias: float = 100.0             # largest |bias| accepted
    max_biased_tokens: int | None = None
    prompt_logprobs: bool = False       # can score given tokens through echo / prompt_logprobs
    logprob_decimals: int | None = None # rounding of returned log-probs, if any
    compute_dtype: str = "float32"      # best knowledge of the suspect's arithmetic precision


@dataclass(frozen=True)
class TopLogprobs:
    """One next-token answer: the top-k token ids and their log-probs, best first."""

    token_ids: np.ndarray  # (k,) int64
    logprobs: np.ndarray   # (k,) float64
    sampled_id: int | None = None  # the generated token (greedy), when the source reports it


@runtime_checkable
class OutputSource(Protocol):
    name: str
    vocab_size: int
    capabilities: Capabilities
    n_queries: int
    # optional ``concurrency: int``: prompts ``collect`` may ask at once from threads (endpoints,
    # whose latency dominates); sources without it are asked one prompt at a time

    def logits(self, prompt: str) -> np.ndarray:
        """Full next-token logits, shape (vocab_size,); only if ``capabilities.logits``."""
        ...

    def logprobs(self, prompt: str) -> np.ndarray:
        """Full next-token log-probs, shape (vocab_size,); only if ``capabilities.probs``."""
        ...

    def top_logprobs(self, prompt: str, *, top_k: int,
                     logit_bias: Mapping[int, float] | None = None) -> TopLogprobs: ...


def is_url(spec: object) -> TypeGuard[str]:
    """Whether a ``--suspect`` (or registry search) argument names an endpoint rather than a model."""
    return isinstance(spec, str) and spec.startswith(("http://", "https://"))
