"""``llm-lineage verify --owner KEY_OR_MODEL --suspect SUSPECT``: the black-box subspace test."""

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

OwnerOpt = Annotated[Path, typer.Option("--owner", help="Key file from `llm-lineage fingerprint`, or the owner model.",
                                        show_default=False)]
SuspectOpt = Annotated[str, typer.Option("--suspect", help="Suspect model directory, or an endpoint URL https://HOST/v1.",
                                          show_default=False)]
AccessOpt = Annotated[str | None, typer.Option("--access", help="logits | probs | topk | top1 (default: full logits).")]
TopKOpt = Annotated[int, typer.Option("--top-k", help="Log-probs per query in topk mode.")]
OutputsOpt = Annotated[int | None, typer.Option("--outputs", help="Prompts to query (default: hidden_size + 32).")]
TokensOpt = Annotated[int | None, typer.Option("--tokens", help="Key tokens used (default: all in the key).")]
DecimalsOpt = Annotated[int | None, typer.Option("--decimals", help="Round the local suspect's log-probs (simulated API).")]
NullOpt = Annotated[list[Path] | None, typer.Option(
    "--null", help="A model unrelated to the owner with its tokenizer, for the language-model null (repeat).")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Arithmetic of the local suspect: float32 | bfloat16 | float16.")]


def verify(owner: OwnerOpt, suspect: SuspectOpt, access: AccessOpt = None, top_k: TopKOpt = 5,
           outputs: OutputsOpt = None, tokens: TokensOpt = None, decimals: DecimalsOpt = None,
           dtype: DtypeOpt = "float32", null: NullOpt = None, as_json: JsonOpt = False,
           api_model: ApiModelOpt = None, api_key_env: ApiKeyEnvOpt = None, max_queries: MaxQueriesOpt = None,
           resume: ResumeOpt = False, concurrency: ConcurrencyOpt = 4, cache: QueryCacheOpt = None,
           strategy: StrategyOpt = None, request_timeout: RequestTimeoutOpt = 30.0) -> None:
    """Does SUSPECT's output space sit inside OWNER's lm_head span? Verdict with the numbers behind it."""
    from ..methods.subspace import SubspaceConfig, verify_endpoint
    from ..methods.subspace import verify as subspace_verify
    from ..outputs import open_suspect
    from ..outputs.openai_endpoint import RetryPolicy
    from ..outputs.source import is_url

    if is_url(suspect):  # probe the endpoint, pick a strategy, query through the cache
        config = SubspaceConfig(n_outputs=outputs, n_tokens=tokens, progress=not as_json)
        outcome = verify_endpoint(owner, suspect, api_model=api_model, config=config, api_key_env=api_key_env,
                                  cache_path=cache, resume=resume, max_queries=max_queries, concurrency=concurrency,
                                  strategy=strategy, retry=RetryPolicy(request_timeout_s=request_timeout),
                                  references=null or ())
        _render.subspace_result(outcome.result, as_json=as_json, endpoint=outcome.campaign)
        return
    from ..methods.subspace.key import load_owner

    key = load_owner(owner)  # a bad owner fails before the suspect is loaded
    source = open_suspect(suspect, access=access, top_k=top_k, decimals=decimals, dtype=dtype)
    config = SubspaceConfig(access=access, top_k=top_k if access == "topk" else None, n_outputs=outputs,
                            n_tokens=tokens, progress=not as_json)
    _render.subspace_result(subspace_verify(key, source, config, references=null or ()), as_json=as_json)
