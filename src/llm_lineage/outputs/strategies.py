r"""How to get a next-token log-prob vector out of an endpoint, and which way is cheapest.

Five strategies, for what real servers return (``V`` = vocabulary size, per prompt):

1. ``full-logprobs``: the server returns all ``V`` log-probs (``logprobs >= V``); 1 query.
2. ``topk-biased``: top-k log-probs that reflect ``logit_bias`` (the paper's reconstruction,
   k-1 new tokens per query); ``outputs/reconstruct.py``.
3. ``top1-biased``: the same with one log-prob per query; ``outputs/reconstruct.py``.
4. ``echo``: append token ``t`` to the prompt, send it with ``echo`` and read the prompt log-prob
   of ``t``; exact log-probs whatever the server does with ``logit_bias``; 1 + V queries.
5. ``greedy-search``: no log-probs at all. With greedy decoding, token ``t`` is generated under a
   bias ``b`` iff ``z_t + b > max_j z_j``, so bisecting ``b`` on ``[0, B]`` gives the logit gap
   ``g_t = z_a - z_t`` (``a`` the unbiased argmax) to ``B / 2**n`` after ``n`` halvings::

       lo, hi = 0, B;  repeat n times: mid = (lo + hi) / 2; t generated ? hi = mid : lo = mid
       z_t - z_a = -(lo + hi) / 2  +- (hi - lo) / 2

   about ``V * log2(B / precision)`` queries [1]_, so only when nothing else works. Gaps above
   ``B`` are censored (NaN). Logits are known up to a constant, which ``span([W, 1])`` absorbs.

:func:`choose` picks the cheapest strategy the probe says works; :class:`StrategySource` runs
1, 4 or 5 behind the ``OutputSource`` interface (``capabilities.probs``), while for 2 and 3 the
endpoint itself is the source. Every strategy states its ``precision``: the largest error of a
returned value, which the subspace test treats as noise.

References
----------
.. [1] N. Carlini et al., "Stealing Part of a Production Language Model", ICML 2024, arXiv:2403.06634.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import EndpointUnsupported, InputError
from .openai_endpoint import OpenAIEndpoint, _logprobs_block
from .probe import ProbeResult, with_strategy

STRATEGIES = ("full-logprobs", "topk-biased", "top1-biased", "echo", "greedy-search")
FLOAT_PRECISION = 1e-6  # float32 log-softmax of a server, read back through JSON


@dataclass(frozen=True)
class StrategyPlan:
    name: str
    queries_per_prompt: int
    precision: float      # largest error of one returned value
    top_k: int = 0        # log-probs per query the strategy asks for (2, 3)
    reason: str = ""


def plans(result: ProbeResult, *, search_precision: float = 1e-3) -> dict[str, StrategyPlan | str]:
    """Every strategy: its plan if the probe says it works here, else why not."""
    vocab = result.vocab_size
    rounding = 0.5 * 10.0 ** -result.logprob_decimals if result.logprob_decimals is not None else FLOAT_PRECISION
    bias_ok = result.logit_bias and result.bias_changes_sampling
    out: dict[str, StrategyPlan | str] = {}
    cap = result.top_logprobs_cap
    out["full-logprobs"] = (StrategyPlan("full-logprobs", 1, rounding, vocab) if cap >= vocab
                            else f"at most {cap} log-probs per answer, not all {vocab}")
    if not bias_ok:
        why = "logit_bias is refused" if not result.logit_bias else "logit_bias does not change the greedy token"
    elif not result.bias_shifts_logprobs:
        why = "logit_bias does not shift the returned log-probs"
    else:
        why = ""
    per_query = min(cap, (result.max_biased_tokens or vocab) + 1)
    out["topk-biased"] = why or (f"top-{cap} log-probs: need at least 2" if cap < 2 else
                                 StrategyPlan("topk-biased", 1 + math.ceil((vocab - per_query) / max(per_query - 1, 1)),
                                              rounding, per_query))
    out["top1-biased"] = why or ("no log-probs" if cap < 1 else StrategyPlan("top1-biased", vocab, rounding, 1))
    out["echo"] = (StrategyPlan("echo", 1 + vocab, rounding, 1) if result.echo
                   else "no prompt log-probs (echo refused or empty)" if result.logprobs else "no log-probs at all")
    steps = math.ceil(math.log2(result.max_bias / search_precision)) if result.max_bias > 0 else 0
    out["greedy-search"] = (StrategyPlan("greedy-search", 1 + vocab * (1 + steps), search_precision / 2)
                            if bias_ok else why)
    return out


def choose(result: ProbeResult, *, strategy: str | None = None,
           search_precision: float = 1e-3) -> tuple[ProbeResult, StrategyPlan]:
    """The cheapest working strategy (or the one asked for); the probe result records the choice."""
    if strategy is not None and strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    table = plans(result, search_precision=search_precision)
    working = {k: v for k, v in table.items() if isinstance(v, StrategyPlan)}
    summary = {k: ({"queries_per_prompt": v.queries_per_prompt, "precision": v.precision}
                   if isinstance(v, StrategyPlan) else {"unavailable": v}) for k, v in table.items()}
    if strategy is not None:
        if strategy not in working:
            raise EndpointUnsupported(f"strategy {strategy} cannot run on {result.endpoint}: {table[strategy]}")
        plan = working[strategy]
        reason = "asked for"
    elif not working:
        why = "; ".join(f"{k}: {v}" for k, v in table.items())
        raise EndpointUnsupported(f"{result.endpoint} ({result.model}) cannot be verified from its outputs: {why}",
                                  hint="the probe result lists what the endpoint did (llm-lineage probe URL)")
    else:
        # cheapest first; among equals, the more precise, then the order of STRATEGIES
        plan = min(working.values(), key=lambda p: (p.queries_per_prompt, p.precision, STRATEGIES.index(p.name)))
        reason = f"cheapest that works: {plan.queries_per_prompt} queries per prompt"
    plan = replace(plan, reason=reason)
    return with_strategy(result, plan.name, reason, summary), plan


# --- strategies 1, 4 and 5 --------------------------------------------------------------------


def full_logprobs(endpoint: OpenAIEndpoint, prompt: str, tokens: np.ndarray | None = None) -> np.ndarray:
    """Strategy 1: one query with ``logprobs = V``; shape (vocab_size,), NaN where unreadable
    (and outside ``tokens`` when given: only those are kept)."""
    return endpoint.all_logprobs(prompt, tokens)


def echo_logprobs(endpoint: OpenAIEndpoint, prompt: str, tokens: np.ndarray | None = None) -> np.ndarray:
    """Strategy 4: log p(t | prompt) for each token t, read as a prompt log-prob (one query each)."""
    ids = _prompt_ids(endpoint, prompt)
    tokens = np.arange(endpoint.vocab_size) if tokens is None else np.asarray(tokens)
    answers = endpoint.request_many([{"prompt": ids + [int(t)], "logprobs": 1, "echo": True} for t in tokens])
    out = np.full(endpoint.vocab_size, np.nan)
    for t, answer in zip(tokens, answers, strict=True):
        values = (_logprobs_block(answer) or {}).get("token_logprobs") or []
        if len(values) > len(ids) and values[len(ids)] is not None:
            out[int(t)] = float(values[len(ids)])
    return out


def _prompt_ids(endpoint: OpenAIEndpoint, prompt: str) -> list[int]:
    """The server's own tokens for the prompt (from an echo), so appended tokens line up exactly."""
    answer = endpoint.request(prompt, logprobs=1, echo=True)
    tokens = (_logprobs_block(answer) or {}).get("tokens") or []
    n_prompt = (answer.get("usage") or {}).get("prompt_tokens") or max(len(tokens) - 1, 0)
    read = [endpoint.token_id(t) for t in tokens[:n_prompt]]
    ids = [t for t in read if t is not None]
    if ids and len(ids) == len(read):
        return ids
    if endpoint.vocabulary is not None:
        return endpoint.vocabulary.encode(prompt)
    raise EndpointUnsupported(f"cannot tell which token ids {endpoint.base_url} made of the prompt")


def greedy_search_logits(endpoint: OpenAIEndpoint, prompt: str, tokens: np.ndarray | None = None, *,
                         precision: float = 1e-3, max_bias: float = 100.0) -> np.ndarray:
    """Strategy 5: logits minus the greedy token's logit, to +-precision/2; NaN beyond -max_bias."""
    greedy = endpoint.generated_id(endpoint.request(prompt))
    if greedy is None:
        raise EndpointUnsupported(f"cannot read the greedy token {endpoint.base_url} generated")
    tokens = np.arange(endpoint.vocab_size) if tokens is None else np.asarray(tokens)
    active = [int(t) for t in tokens if int(t) != greedy]
    out = np.full(endpoint.vocab_size, np.nan)
    out[greedy] = 0.0
    # a gap beyond the largest bias cannot be measured: check the upper end once
    wins = _wins(endpoint, prompt, {t: max_bias for t in active})
    lo = {t: 0.0 for t in active if wins[t]}
    hi = {t: max_bias for t in lo}
    steps = max(0, math.ceil(math.log2(max_bias / precision)))
    for _ in range(steps):  # all tokens halve their interval together: one round, many queries
        mids = {t: (lo[t] + hi[t]) / 2 for t in lo}
        wins = _wins(endpoint, prompt, mids)
        for t, mid in mids.items():
            (hi if wins[t] else lo)[t] = mid
    for t in lo:
        out[t] = -(lo[t] + hi[t]) / 2
    return out


def _wins(endpoint: OpenAIEndpoint, prompt: str, bias: dict[int, float]) -> dict[int, bool]:
    tokens = list(bias)
    answers = endpoint.request_many([{"prompt": prompt, "logit_bias": {t: bias[t]}} for t in tokens])
    return {t: endpoint.generated_id(a) == t for t, a in zip(tokens, answers, strict=True)}


class StrategySource:
    """An endpoint behind strategy 1, 4 or 5, seen as a source of full log-prob vectors.

    ``logprobs(prompt)`` returns log-probs (1, 4) or logits up to a constant (5, which ``span([W, 1])``
    absorbs); ``precision`` is the largest error of one value.
    """

    def __init__(self, endpoint: OpenAIEndpoint, plan: StrategyPlan) -> None:
        if plan.name not in ("full-logprobs", "echo", "greedy-search"):
            raise InputError(f"{plan.name} runs through the endpoint itself (outputs/reconstruct.py)")
        self.endpoint = endpoint
        self.plan = plan
        self.name = endpoint.name
        self.vocab_size = endpoint.vocab_size
        self.concurrency = endpoint.concurrency
        self.precision = plan.precision
        self.keep: np.ndarray | None = None  # the tokens a full-logprobs answer is kept for (None: all)
        decimals = max(0, math.floor(-math.log10(2 * plan.precision)))
        self.capabilities = replace(endpoint.capabilities, probs=True, logits=False,
                                    logprob_decimals=decimals if plan.precision > FLOAT_PRECISION else None)

    @property
    def n_queries(self) -> int:
        return self.endpoint.n_queries

    def logprobs(self, prompt: str, tokens: np.ndarray | None = None) -> np.ndarray:
        """Shape (vocab_size,); with ``tokens``, only those are asked about (the rest NaN)."""
        if self.plan.name == "full-logprobs":
            return full_logprobs(self.endpoint, prompt, self.keep if tokens is None else tokens)
        if self.plan.name == "echo":
            return echo_logprobs(self.endpoint, prompt, tokens)
        return greedy_search_logits(self.endpoint, prompt, tokens, precision=2 * self.precision)

    def logits(self, prompt: str) -> np.ndarray:
        raise EndpointUnsupported(f"{self.name} returns no logits")

    def top_logprobs(self, prompt: str, *, top_k: int, logit_bias=None):
        return self.endpoint.top_logprobs(prompt, top_k=top_k, logit_bias=logit_bias)


def tokenizer_vocabulary(model_dir: str | Path | None, vocab_size: int):
    """The owner's tokenizer as a :class:`TokenVocabulary` (None when no directory is known)."""
    if model_dir is None or not (Path(model_dir) / "tokenizer.json").is_file() and \
            not (Path(model_dir) / "tokenizer_config.json").is_file():
        return None
    from transformers import AutoTokenizer

    from .openai_endpoint import TokenVocabulary

    return TokenVocabulary(AutoTokenizer.from_pretrained(model_dir), vocab_size)


def strategy_evidence(source: StrategySource, token_ids: np.ndarray, prompts: tuple[str, ...], *,
                      progress: bool = False):
    r"""Evidence for the subspace test from strategy 4 or 5, asking only about ``token_ids``.

    Noise per output, as ``outputs/reconstruct.py`` models it: echo log-probs carry the server's
    float32 rounding relative to their size plus any rounding to D decimals
    (``sd = hypot(2**-24 * rms, 10**-D / sqrt(12))``); a bisection to +-p leaves a uniform error,
    ``sd = p / sqrt(3)``. Tokens that could not be measured for every prompt are dropped.
    """
    from .. import progress as _progress
    from .reconstruct import UNIT_ROUNDOFF, Evidence

    tokens = np.asarray(token_ids, dtype=np.int64)
    decimals = source.endpoint.capabilities.logprob_decimals
    start = source.n_queries
    rows, sds = [], []
    description = f"querying {source.name} ({source.plan.name})"
    with _progress.progress(description, len(prompts)) if progress else nullcontext() as bar:
        for prompt in prompts:
            values = source.logprobs(prompt, tokens)[tokens]
            if source.plan.name == "greedy-search":
                sd = source.precision / math.sqrt(3.0)
            else:
                rms = float(np.sqrt(np.nanmean(values ** 2)))
                rounding = 10.0 ** -decimals / math.sqrt(12.0) if decimals is not None else 0.0
                sd = math.hypot(UNIT_ROUNDOFF["float32"] * rms, rounding)
            rows.append(values)
            sds.append(sd)
            if bar is not None:
                bar.advance()
    values = np.vstack(rows)
    keep = np.isfinite(values).all(axis=0)
    if not keep.any():
        raise EndpointUnsupported(f"no token could be measured through {source.plan.name} on {source.name}")
    return Evidence(source.plan.name, tokens[keep], values[:, keep], np.asarray(sds), tuple(prompts),
                    source.n_queries - start, "float32", decimals,
                    tuple(int(t) for t in tokens[~keep]))
