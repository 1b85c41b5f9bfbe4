r"""Collecting a suspect's next-token evidence on a token set T, in each of the four access modes.

What a black-box test needs from a suspect is, per prompt, the vector of its next-token logits on
the tokens T, *up to an additive constant* (log-probs are logits minus log Z; the subspace test
works against ``span([W_T, 1])``, so the constant never matters). How that vector is obtained
depends on what the source allows:

1. ``logits``: read it.
2. ``probs``: log-probs, i.e. logits minus log Z (the centred log-ratio removes the constant).
3. ``topk``: top-k log-probs with ``logit_bias``. One unbiased query finds the reference token
   ``ref`` (the argmax). Then k-1 tokens at a time get bias ``B``; ``ref`` stays in the top k,
   because only the k-1 biased tokens can outrank the unbiased argmax, and for each biased token
   that entered the top k the normaliser cancels exactly::

       l_t - l_ref = lp'_t - lp'_ref - B        (B dropped if the bias does not shift log-probs)

   A token that did not enter the top k is retried with twice the bias, up to the source's limit.
4. ``top1``: the top-1 log-prob with ``logit_bias``. Bias one token t by B; the top is either t or
   ``ref``, and with ``a = p_t (e^B - 1)`` both answers invert exactly::

       top = t:    log p_t = lp'_t - log(e^B (1 - p'_t) + p'_t)
       top = ref:  log p_t = log(expm1(lp_ref - lp'_ref)) - log(expm1(B))

   The error of either is smallest when ``a`` is near 1, so B is re-chosen as ``-log p_t`` from
   the first estimate whenever the first answer was badly conditioned.

Every :class:`Evidence` carries its precision: ``noise_sd`` per output, the standard deviation per
coordinate that rounding of the suspect's arithmetic (``compute_dtype``), of the returned
log-probs (``decimals``) and of the reconstruction formulas explain. Methods compare residuals
with this floor instead of with a fixed number.

References
----------
.. [1] Z. Yang, H. Wu, "A Fingerprint for Large Language Models", arXiv:2407.01235, 2024.
.. [2] J. X. Morris et al., "Language Model Inversion", ICLR 2024 (logit-bias reconstruction).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from .. import progress as _progress
from ..errors import EndpointUnsupported, InputError, VocabularyMismatch
from .source import OutputSource

ACCESS_MODES = ("logits", "probs", "topk", "top1")

# unit roundoff (half the machine epsilon) of the arithmetic a suspect may run in
UNIT_ROUNDOFF = {"float32": 2.0 ** -24, "float16": 2.0 ** -11, "bfloat16": 2.0 ** -9, "float64": 2.0 ** -53}
U32 = UNIT_ROUNDOFF["float32"]  # servers add logit_bias and take log-softmax in float32
T = TypeVar("T")


@dataclass(frozen=True)
class Evidence:
    """A suspect's next-token logits on tokens T for N prompts, each up to an additive constant.

    ``values[i, j]`` is the suspect's logit (or log-prob) of ``token_ids[j]`` after ``prompts[i]``;
    ``noise_sd[i]`` the standard deviation of its error per coordinate under the precision model.
    """

    access: str
    token_ids: np.ndarray   # (n_tokens,) int64
    values: np.ndarray      # (n_outputs, n_tokens) float64
    noise_sd: np.ndarray    # (n_outputs,) float64
    prompts: tuple[str, ...]
    n_queries: int          # queries this collection paid for
    compute_dtype: str
    decimals: int | None
    dropped_tokens: tuple[int, ...] = ()  # asked for, but out of reach of the bias limit

    @property
    def n_outputs(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_tokens(self) -> int:
        return int(self.values.shape[1])

    def restrict(self, token_ids: np.ndarray) -> Evidence:
        """The same evidence on a subset of its tokens (for a key over fewer tokens)."""
        index = {int(t): j for j, t in enumerate(self.token_ids)}
        missing = [int(t) for t in token_ids if int(t) not in index]
        if missing:
            raise InputError(f"evidence lacks {len(missing)} of the requested tokens (first: {missing[0]})")
        cols = np.array([index[int(t)] for t in token_ids], dtype=np.int64)
        return Evidence(self.access, np.asarray(token_ids, dtype=np.int64), self.values[:, cols], self.noise_sd,
                        self.prompts, self.n_queries, self.compute_dtype, self.decimals, self.dropped_tokens)


def best_access(source: OutputSource) -> str:
    """The cheapest access mode the source supports: logits, then probs, then top-k, then top-1."""
    caps = source.capabilities
    if caps.logits:
        return "logits"
    if caps.probs:
        return "probs"
    if caps.top_k >= 2 and caps.logit_bias:
        return "topk"
    if caps.top_k >= 1 and caps.logit_bias:
        return "top1"
    raise EndpointUnsupported(f"{source.name} gives neither logits, probabilities nor top log-probs with logit_bias",
                              hint="the subspace test needs one of the four access modes: logits, probs, topk, top1")


def collect(source: OutputSource, token_ids: Sequence[int] | np.ndarray, prompts: Sequence[str], *,
            access: str | None = None, top_k: int | None = None, initial_bias: float = 20.0,
            progress: bool = False) -> Evidence:
    """Query ``source`` once per prompt (several times in the bias modes) for its logits on ``token_ids``.

    Parameters
    ----------
    source : any :class:`OutputSource`; its ``n_queries`` grows by what this collection asks.
    token_ids : the tokens T, shape (n_tokens,), distinct ids below ``source.vocab_size``.
    prompts : one output per prompt.
    access : ``logits``, ``probs``, ``topk`` or ``top1``; default :func:`best_access`.
    top_k : log-probs per query in ``topk`` mode (default: the most the source gives).
    initial_bias : first ``logit_bias`` tried in the bias modes; doubled up to the source's limit.
    """
    access = access or best_access(source)
    if access not in ACCESS_MODES:
        raise InputError(f"unknown access mode {access!r}; choose from {', '.join(ACCESS_MODES)}")
    tokens = np.asarray(token_ids, dtype=np.int64)
    if tokens.ndim != 1 or len(tokens) == 0 or len(np.unique(tokens)) != len(tokens):
        raise InputError("token_ids must be a non-empty list of distinct token ids")
    if tokens.min() < 0 or tokens.max() >= source.vocab_size:
        raise VocabularyMismatch(f"token id {int(tokens.max())} is outside {source.name}'s vocabulary "
                                 f"of {source.vocab_size}")
    if not prompts:
        raise InputError("no prompts to query the suspect with")
    caps = source.capabilities
    decimals = caps.logprob_decimals
    u = UNIT_ROUNDOFF.get(caps.compute_dtype, UNIT_ROUNDOFF["float32"])
    k = int(top_k or caps.top_k)
    if access == "topk" and not (caps.logit_bias and caps.top_k >= 2):
        raise EndpointUnsupported(f"{source.name} does not offer top-k log-probs with logit_bias")
    if access == "topk" and not 2 <= k <= caps.top_k:
        raise InputError(f"top_k must be between 2 and {caps.top_k} for {source.name} (got {k})")
    if access == "top1" and not (caps.logit_bias and caps.top_k >= 1):
        raise EndpointUnsupported(f"{source.name} does not offer top-1 log-probs with logit_bias")

    def one(prompt: str) -> tuple[np.ndarray, float]:
        if access == "logits":
            return _full(source.logits(prompt), tokens, decimals)
        if access == "probs":
            return _full(source.logprobs(prompt), tokens, decimals)
        if access == "topk":
            return _topk(source, prompt, tokens, k, initial_bias, decimals)
        return _top1(source, prompt, tokens, initial_bias, decimals)

    start = source.n_queries
    rows, sds = [], []
    dropped: set[int] = set()
    with _progress.progress(f"querying {source.name} ({access})", len(prompts)) if progress else nullcontext() as bar:
        for values, sd in _in_order(one, prompts, int(getattr(source, "concurrency", 1))):
            dropped.update(int(t) for t in tokens[~np.isfinite(values)])
            rows.append(values)
            # the suspect's own arithmetic perturbs its logits relative to their spread; that is
            # a property of the outputs, not amplified by any reconstruction formula
            finite = values[np.isfinite(values)]
            spread = float(np.std(finite)) if finite.size else 0.0
            sds.append(math.hypot(sd, u * spread))
            if bar is not None:
                bar.advance()
    values = np.vstack(rows)
    keep = np.isfinite(values).all(axis=0)
    if not keep.all() and keep.sum() == 0:
        raise EndpointUnsupported(f"no token could be reconstructed from {source.name} within its bias limit")
    return Evidence(access, tokens[keep], values[:, keep], np.asarray(sds, dtype=np.float64), tuple(prompts),
                    source.n_queries - start, caps.compute_dtype, decimals, tuple(sorted(dropped)))


def _in_order(fn: Callable[[str], T], prompts: Sequence[str], workers: int) -> Iterator[T]:
    """``fn`` on each prompt, ``workers`` prompts at a time (an endpoint's latency, not its work, is
    what a campaign waits on), results in prompt order; the first error stops what has not started."""
    if workers <= 1 or len(prompts) <= 1:
        yield from map(fn, prompts)
        return
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(fn, prompt) for prompt in prompts]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --- the four modes ----------------------------------------------------------------------------


def _rounding_sd(decimals: int | None) -> float:
    # a value rounded to D decimals is off by a uniform error on +-0.5e-D: sd = 1e-D / sqrt(12)
    return 0.0 if decimals is None else 10.0 ** -decimals / math.sqrt(12.0)


def _full(vector: np.ndarray, tokens: np.ndarray, decimals: int | None) -> tuple[np.ndarray, float]:
    vector = np.asarray(vector, dtype=np.float64)
    values = vector[tokens]
    # the returned values themselves are float32 (log-softmax included): rounding relative to their
    # size; tokens a server left out (NaN: read by text, an ambiguous piece) do not set the scale
    finite = vector[np.isfinite(vector)]
    scale = float(np.sqrt(np.mean(finite ** 2))) if finite.size else 0.0
    return values, math.hypot(U32 * scale, _rounding_sd(decimals))


def _topk(source: OutputSource, prompt: str, tokens: np.ndarray, k: int, initial_bias: float,
          decimals: int | None) -> tuple[np.ndarray, float]:
    caps = source.capabilities
    first = source.top_logprobs(prompt, top_k=k)
    ref, lp_ref = int(first.token_ids[0]), float(first.logprobs[0])
    known = {int(t): float(lp) - lp_ref for t, lp in zip(first.token_ids, first.logprobs, strict=True)}
    pending = [int(t) for t in tokens if int(t) not in known]
    bias = min(float(initial_bias), caps.max_bias)
    max_abs = abs(lp_ref)
    while pending:
        missed: list[int] = []
        for i in range(0, len(pending), k - 1):
            group = pending[i: i + k - 1]
            answer = source.top_logprobs(prompt, top_k=k, logit_bias={t: bias for t in group})
            got = {int(t): float(lp) for t, lp in zip(answer.token_ids, answer.logprobs, strict=True)}
            # the anchor is ref, or, when a tie with ref (common in bf16) pushed it out, another
            # unbiased token whose value is already known
            anchors = [a for a in got if a in known and a not in group]
            if not anchors:
                missed.extend(group)
                continue
            anchor = ref if ref in got else anchors[0]
            max_abs = max(max_abs, max(abs(v) for v in got.values()))
            shift = bias if caps.bias_shifts_logprobs else 0.0
            for t in group:
                if t in got:
                    known[t] = got[t] - got[anchor] + known[anchor] - shift
                else:
                    missed.append(t)
        if not missed or bias >= caps.max_bias:
            break
        pending, bias = missed, min(2.0 * bias, caps.max_bias)
    values = np.array([known.get(int(t), np.nan) for t in tokens])
    # each value is a difference of two returned log-probs, each rounded, and the bias is added in
    # the server's arithmetic: errors relative to the largest magnitude involved
    sd = math.sqrt(2.0) * math.hypot(U32 * (max_abs + bias), _rounding_sd(decimals))
    return values, sd


def _top1(source: OutputSource, prompt: str, tokens: np.ndarray, initial_bias: float,
          decimals: int | None, max_tries: int = 6) -> tuple[np.ndarray, float]:
    caps = source.capabilities
    first = source.top_logprobs(prompt, top_k=1)
    ref, lp_ref = int(first.token_ids[0]), float(first.logprobs[0])
    # the smallest change of a returned log-prob that is more than rounding
    resolution = max(10.0 ** -decimals if decimals is not None else 0.0, 64 * U32 * max(1.0, abs(lp_ref)))
    values = np.full(len(tokens), np.nan)
    gains = np.ones(len(tokens))
    guess = lp_ref - initial_bias / 2  # log p of a token not yet seen: revised as tokens come in
    largest_bias = 0.0
    for j, t in enumerate(int(x) for x in tokens):
        if t == ref:
            values[j] = lp_ref
            continue
        bias = float(np.clip(-guess, 0.0, caps.max_bias))
        for _ in range(max_tries):
            answer = source.top_logprobs(prompt, top_k=1, logit_bias={t: bias})
            largest_bias = max(largest_bias, bias)
            top, lp = int(answer.token_ids[0]), float(answer.logprobs[0])
            estimate, gain = _invert_top1(top == t, lp, lp_ref, bias, resolution)
            if estimate is None:  # the bias moved nothing measurable (or too much): move it
                moved = float(np.clip(bias + (10.0 if top != t else -10.0), 0.0, caps.max_bias))
                if moved == bias:  # already at the limit: out of reach
                    break
                bias = moved
                continue
            values[j], gains[j] = estimate, gain
            if gain <= 10.0:  # well conditioned: the rounding error is amplified at most tenfold
                break
            bias = float(np.clip(-estimate, 0.0, caps.max_bias))  # a = p_t (e^B - 1) near 1
        if np.isfinite(values[j]):
            guess = float(np.median(values[np.isfinite(values)]))
    # one (top = t) or two (top = ref) rounded returned values, amplified by the inversion's gain
    sd_each = math.sqrt(2.0) * gains * math.hypot(U32 * max(1.0, abs(lp_ref) + largest_bias), _rounding_sd(decimals))
    return values, float(np.sqrt(np.mean(sd_each[np.isfinite(values)] ** 2))) if np.isfinite(values).any() else 0.0


def _invert_top1(top_is_token: bool, lp: float, lp_ref: float, bias: float,
                 resolution: float) -> tuple[float | None, float]:
    """log p_t from one biased top-1 answer, and the gain d(log p_t)/d(returned log-prob)."""
    if top_is_token:
        if -lp < resolution:  # p' indistinguishable from 1: the bias was far too large
            return None, math.inf
        log1m = math.log(-math.expm1(lp))                     # log(1 - p')
        estimate = lp - float(np.logaddexp(bias + log1m, lp))
        return estimate, 1.0 / -math.expm1(lp)
    delta = lp_ref - lp
    if delta < resolution or bias <= 0.0:  # no measurable shift of the normaliser: bias too small
        return None, math.inf
    estimate = math.log(math.expm1(delta)) - (bias + math.log(-math.expm1(-bias)))  # log(expm1(B)) stably
    return estimate, 1.0 / -math.expm1(-delta)
