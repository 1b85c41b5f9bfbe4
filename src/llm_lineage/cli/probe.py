"""``llm-lineage probe URL``: what an OpenAI-compatible endpoint really does, and how it would be queried."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _render
from ._endpoint_options import (
    ApiKeyEnvOpt,
    ApiModelOpt,
    ConcurrencyOpt,
    MaxQueriesOpt,
    QueryCacheOpt,
    RequestTimeoutOpt,
    ResumeOpt,
    StrategyOpt,
)
from ._options import JsonOpt


def probe(
    url: Annotated[str, typer.Argument(help="Endpoint base URL, e.g. https://HOST/v1.", show_default=False)],
    owner: Annotated[Path, typer.Option("--owner", help="Owner model directory: its vocabulary and tokenizer.")],
    api_model: ApiModelOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    cache: QueryCacheOpt = None,
    resume: ResumeOpt = False,
    max_queries: MaxQueriesOpt = None,
    concurrency: ConcurrencyOpt = 4,
    strategy: StrategyOpt = None,
    request_timeout: RequestTimeoutOpt = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """Measure log-probs, top-k cap, logit_bias effects, rounding and echo; pick the cheapest strategy."""
    from ..outputs.campaign import open_endpoint
    from ..outputs.openai_endpoint import RetryPolicy
    from ..weights import open_checkpoint

    vocab_size = open_checkpoint(owner).summary().get("vocab_size")
    campaign = open_endpoint(url, api_model=api_model, vocab_size=vocab_size, tokenizer_dir=owner,
                             api_key_env=api_key_env, cache_path=cache, resume=resume, max_queries=max_queries,
                             concurrency=concurrency, strategy=strategy,
                             retry=RetryPolicy(request_timeout_s=request_timeout))
    report = campaign.report()
    campaign.close()
    _render.endpoint_report(report, as_json=as_json)
