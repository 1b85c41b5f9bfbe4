"""Local suspects: a ``transformers`` model directory as an :class:`OutputSource`, and a simulated API.

:class:`LocalModel` runs the model itself and can give everything: full logits, full log-probs,
top-k log-probs with ``logit_bias``. :class:`SimulatedAPI` wraps one and exposes only what one
access mode of a hosted API would allow, with the limits such APIs
have: ``top_k``, a bias limit, log-probs rounded to ``decimals`` places, and (through the wrapped
model) float16/bfloat16 arithmetic. Every black-box mode is thereby tested against the truth.

Both count every query in ``n_queries``. A forward pass is cached per prompt (its logits do not
depend on ``logit_bias``, which a server adds after the forward pass), so reconstructing many
tokens of one prompt costs one forward pass here while still counting one paid query per call.
One forward pass also answers every prefix of its prompt (a causal model's logits at position k
depend on the first k tokens only): the prompt set comes in chains of prefixes, longest first, so
a local check of a 576-wide model runs about 50 forward passes for its 608 outputs. The cache is
bounded in bytes, not entries: at a vocabulary of 256K a next-token vector is 1 MB.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import EndpointUnsupported, InputError, ModelNotFound
from .source import Capabilities, TopLogprobs

ACCESS_MODES = ("logits", "probs", "topk", "top1")
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")


class LocalModel:
    """A causal LM directory as a suspect that answers everything, at ``dtype`` precision.

    Parameters
    ----------
    model_dir : a Hugging Face model directory (config.json, *.safetensors, tokenizer files).
    dtype : arithmetic of the forward pass: ``float32``, ``bfloat16`` or ``float16``.
    cache_bytes : next-token vectors kept (by token prefix), in bytes.
    """

    def __init__(self, model_dir: str | Path, *, dtype: str = "float32", cache_bytes: int = 128 << 20) -> None:
        import torch
        from transformers import AutoTokenizer

        from ..weights.hf_model import load_model

        model_dir = Path(model_dir).expanduser()
        if not (model_dir / "config.json").is_file():
            raise ModelNotFound(f"{model_dir} is not a model directory (no config.json)")
        if dtype not in COMPUTE_DTYPES:
            raise InputError(f"unknown compute dtype {dtype!r}; choose from {', '.join(COMPUTE_DTYPES)}")
        self.name = model_dir.name
        self.path = model_dir
        self.dtype = dtype
        self._torch = torch
        self.model = load_model(model_dir, dtype=getattr(torch, dtype))
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.vocab_size = int(self.model.get_output_embeddings().weight.shape[0])
        self.capabilities = Capabilities(logits=True, probs=True, top_k=self.vocab_size, logit_bias=True,
                                         bias_shifts_logprobs=True, max_bias=float("inf"),
                                         compute_dtype=dtype)
        self.n_queries = 0
        self.n_forward = 0
        self._cache: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._cache_size = max(32, cache_bytes // (4 * self.vocab_size))

    def __repr__(self) -> str:
        return f"LocalModel({str(self.path)!r}, dtype={self.dtype!r})"

    # --- the forward pass, once per prompt ------------------------------------------------------

    def forward(self, prompt: str) -> np.ndarray:
        """Next-token logits in the model's own dtype, widened to float32 (what a server holds)."""
        ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"] if prompt else []
        if not ids:  # an empty prompt: condition on BOS, as servers do
            bos = self.tokenizer.bos_token_id
            ids = [bos if bos is not None else 0]
        key = tuple(int(i) for i in ids)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        with self._torch.no_grad():
            out = self.model(input_ids=self._torch.tensor([ids]))
        every = out.logits[0].float().numpy()
        self.n_forward += 1
        # the prefixes' next-token vectors come with it; shorter prompts of a chain are asked next
        for k in range(1, len(key) + 1):
            self._cache[key[:k]] = every[k - 1].copy()
            self._cache.move_to_end(key[:k])
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return self._cache[key]

    # --- OutputSource ----------------------------------------------------------------------------

    def logits(self, prompt: str) -> np.ndarray:
        self.n_queries += 1
        return self.forward(prompt).astype(np.float64)

    def logprobs(self, prompt: str) -> np.ndarray:
        self.n_queries += 1
        return log_softmax32(self.forward(prompt)).astype(np.float64)

    def top_logprobs(self, prompt: str, *, top_k: int,
                     logit_bias: Mapping[int, float] | None = None) -> TopLogprobs:
        self.n_queries += 1
        return top_logprobs_of(self.forward(prompt), top_k=top_k, logit_bias=logit_bias)


class SimulatedAPI:
    """A local model seen through one API access mode, with that mode's limits; counts queries.

    Parameters
    ----------
    model : the :class:`LocalModel` that does the work (its ``dtype`` is the server's arithmetic).
    access : ``logits`` (full logits), ``probs`` (full log-probs), ``topk`` (top-k log-probs and
        ``logit_bias``) or ``top1`` (top-1 log-prob and ``logit_bias``).
    top_k : log-probs returned per query in ``topk`` mode (1 in ``top1`` mode).
    max_bias : largest ``|logit_bias|`` accepted (OpenAI: 100).
    decimals : returned log-probs are rounded to this many decimals (None: not rounded).
    """

    def __init__(self, model: LocalModel, access: str = "topk", *, top_k: int = 5, max_bias: float = 100.0,
                 decimals: int | None = None) -> None:
        if access not in ACCESS_MODES:
            raise InputError(f"unknown access mode {access!r}; choose from {', '.join(ACCESS_MODES)}")
        if access == "topk" and top_k < 2:
            raise InputError(f"top-k access needs top_k >= 2 (got {top_k}); use access 'top1' for one log-prob")
        self.model = model
        self.access = access
        self.vocab_size = model.vocab_size
        self.name = f"{model.name} ({access})"
        self.top_k = 1 if access == "top1" else int(top_k)
        self.max_bias = float(max_bias)
        self.decimals = decimals
        biased = access in ("topk", "top1")
        self.capabilities = Capabilities(
            logits=access == "logits", probs=access in ("logits", "probs"),
            top_k=self.top_k if biased else 0, logit_bias=biased, bias_shifts_logprobs=biased,
            max_bias=self.max_bias if biased else 0.0, logprob_decimals=decimals, compute_dtype=model.dtype)
        self.n_queries = 0

    def __repr__(self) -> str:
        return f"SimulatedAPI({self.model!r}, access={self.access!r}, top_k={self.top_k}, decimals={self.decimals})"

    def _round(self, values: np.ndarray) -> np.ndarray:
        return values if self.decimals is None else np.round(values, self.decimals)

    def logits(self, prompt: str) -> np.ndarray:
        if not self.capabilities.logits:
            raise EndpointUnsupported(f"{self.name} returns no logits")
        self.n_queries += 1
        return self._round(self.model.forward(prompt).astype(np.float64))

    def logprobs(self, prompt: str) -> np.ndarray:
        if not self.capabilities.probs:
            raise EndpointUnsupported(f"{self.name} returns no full probability vector")
        self.n_queries += 1
        return self._round(log_softmax32(self.model.forward(prompt)).astype(np.float64))

    def top_logprobs(self, prompt: str, *, top_k: int,
                     logit_bias: Mapping[int, float] | None = None) -> TopLogprobs:
        if not self.capabilities.top_k:
            raise EndpointUnsupported(f"{self.name} returns no top log-probs")
        if top_k > self.top_k:
            raise EndpointUnsupported(f"{self.name} returns at most {self.top_k} log-probs per query (asked {top_k})")
        if logit_bias:
            too_big = [t for t, b in logit_bias.items() if abs(b) > self.max_bias]
            if too_big:
                raise EndpointUnsupported(f"{self.name} accepts |logit_bias| <= {self.max_bias:g} "
                                          f"(token {too_big[0]} asks {logit_bias[too_big[0]]:g})")
        self.n_queries += 1
        answer = top_logprobs_of(self.model.forward(prompt), top_k=top_k, logit_bias=logit_bias)
        return TopLogprobs(answer.token_ids, self._round(answer.logprobs), answer.sampled_id)


def log_softmax32(logits: np.ndarray) -> np.ndarray:
    """log-softmax in float32, as a server computes it (max-shifted for stability)."""
    x = np.asarray(logits, dtype=np.float32)
    shifted = x - x.max()
    return shifted - np.log(np.exp(shifted).sum(dtype=np.float32))


def top_logprobs_of(logits: np.ndarray, *, top_k: int, logit_bias: Mapping[int, float] | None = None) -> TopLogprobs:
    """What a server answers: add ``logit_bias`` (float32), log-softmax, keep the ``top_k`` best."""
    x = np.array(logits, dtype=np.float32)
    if logit_bias:
        ids = np.fromiter(logit_bias.keys(), dtype=np.int64, count=len(logit_bias))
        if ids.min() < 0 or ids.max() >= len(x):
            raise InputError(f"logit_bias names token {int(ids.max() if ids.max() >= len(x) else ids.min())}, "
                             f"outside the vocabulary of {len(x)}")
        x[ids] += np.fromiter(logit_bias.values(), dtype=np.float32, count=len(logit_bias))
    lp = log_softmax32(x)
    k = min(int(top_k), len(lp))
    best = np.argpartition(-lp, k - 1)[:k]
    best = best[np.argsort(-lp[best], kind="stable")]
    return TopLogprobs(best.astype(np.int64), lp[best].astype(np.float64), int(best[0]))
