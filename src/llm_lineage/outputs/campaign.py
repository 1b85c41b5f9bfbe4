"""A query campaign against an OpenAI-compatible endpoint: cache, probe, strategy, and the bill.

:func:`open_endpoint` is what ``--suspect https://HOST/v1`` means: it opens (or resumes) the
durable query cache, connects through the ``openai`` SDK, probes what the endpoint really does
and picks the cheapest strategy that works. The :class:`Campaign` it returns hands methods an
``OutputSource`` (``campaign.source``) and the access mode to ask it in (``campaign.access``),
and afterwards reports what ran and what it cost (:meth:`Campaign.report`, part of the JSON).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .cache import QueryCache, QueryCounts
from .openai_endpoint import OpenAIEndpoint, RetryPolicy
from .probe import ProbeResult, probe
from .reconstruct import collect
from .strategies import StrategyPlan, StrategySource, choose, strategy_evidence, tokenizer_vocabulary

# which access mode of outputs/reconstruct.collect runs each strategy
ACCESS_OF = {"full-logprobs": "probs", "echo": "probs", "greedy-search": "probs",
             "topk-biased": "topk", "top1-biased": "top1"}


@dataclass(frozen=True)
class CampaignReport:
    """What ran against the endpoint and what it cost (never the API key)."""

    endpoint: str
    model: str
    strategy: str
    precision: float
    queries_used: int     # paid in this run
    queries_cached: int   # read back from the cache instead of paid again
    queries_retried: int  # attempts repeated after 429 / 5xx / time-out / dropped connection
    max_queries: int | None
    cache: str | None
    probe: ProbeResult


def default_cache_path(url: str, model: str) -> Path:
    from ..paths import cache_root

    digest = hashlib.sha256(f"{url.rstrip('/')}|{model}".encode()).hexdigest()[:16]
    return cache_root() / "queries" / f"{digest}.sqlite"


class Campaign:
    """An endpoint with its cache, probe result and chosen strategy."""

    def __init__(self, endpoint: OpenAIEndpoint, probe_result: ProbeResult, plan: StrategyPlan) -> None:
        self.endpoint = endpoint
        self.probe = probe_result
        self.plan = plan
        self.access = ACCESS_OF[plan.name]
        self.top_k = plan.top_k if plan.name == "topk-biased" else None
        self.source: Any = endpoint if self.access in ("topk", "top1") else StrategySource(endpoint, plan)

    def report(self) -> CampaignReport:
        counts: QueryCounts = self.endpoint.cache.counts()
        path = self.endpoint.cache.path
        return CampaignReport(self.endpoint.base_url, self.endpoint.model, self.plan.name, self.plan.precision,
                              counts.used, counts.cached, counts.retried, counts.max_queries,
                              str(path) if path else None, self.probe)

    def close(self) -> None:
        self.endpoint.cache.close()

    def evidence(self, token_ids: np.ndarray, prompts: tuple[str, ...], *, initial_bias: float = 20.0,
                 progress: bool = False):
        """Query the endpoint for ``token_ids`` after each prompt, the way the chosen strategy asks."""
        if isinstance(self.source, StrategySource) and self.plan.name != "full-logprobs":
            # one query per token (or a bisection per token): ask only about these tokens
            return strategy_evidence(self.source, token_ids, prompts, progress=progress)
        if isinstance(self.source, StrategySource):
            # a whole-vocabulary answer is kept (and cached) for these tokens only
            self.source.keep = np.asarray(token_ids, dtype=np.int64)
        return collect(self.source, token_ids, prompts, access=self.access, top_k=self.top_k,
                       initial_bias=initial_bias, progress=progress)


def open_endpoint(url: str, *, api_model: str | None, vocab_size: int | None = None,
                  tokenizer_dir: str | Path | None = None, api_key_env: str | None = None,
                  cache_path: str | Path | None = None, resume: bool = False, max_queries: int | None = None,
                  concurrency: int = 4, strategy: str | None = None,
                  retry: RetryPolicy = RetryPolicy(), extra_body: dict[str, Any] | None = None) -> Campaign:
    """Connect to ``url`` (``https://HOST/v1``), probe it and choose how to query it.

    ``vocab_size`` and ``tokenizer_dir`` come from the owner: the subspace test compares the
    suspect on the owner's vocabulary, and the owner's tokenizer reads token text back as ids.
    """
    if not api_model:
        raise InputError("a URL suspect needs --api-model NAME (the model id the endpoint serves)")
    if vocab_size is None:
        raise InputError(f"the vocabulary size of {url} is unknown", hint="pass the owner's model directory")
    path = Path(cache_path) if cache_path is not None else default_cache_path(url, api_model)
    cache = QueryCache(path, endpoint=url, model=api_model, resume=resume, max_queries=max_queries)
    try:
        endpoint = OpenAIEndpoint(url, api_model, vocab_size=vocab_size, api_key_env=api_key_env,
                                  vocabulary=tokenizer_vocabulary(tokenizer_dir, vocab_size), cache=cache,
                                  concurrency=concurrency, retry=retry, extra_body=extra_body)
        result, plan = choose(probe(endpoint), strategy=strategy)
    except BaseException:
        cache.close()
        raise
    return Campaign(endpoint, result, plan)
