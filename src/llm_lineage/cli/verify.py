"""``llm-lineage verify --owner KEY_OR_MODEL --suspect SUSPECT``: the black-box subspace test, or with
``--method text`` attribution from sampled text alone."""

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
from ._options import BaseOpt, DownloadOpt, JsonOpt, model_or_url, model_path

OwnerOpt = Annotated[Path, typer.Option("--owner", help="Key file from `llm-lineage fingerprint`, or the owner model.",
                                        parser=model_path, show_default=False)]
SuspectOpt = Annotated[str, typer.Option("--suspect", help="Suspect model directory, or an endpoint URL https://HOST/v1.",
                                          parser=model_or_url, show_default=False)]
AccessOpt = Annotated[str | None, typer.Option("--access", help="logits | probs | topk | top1 (default: full logits).")]
TopKOpt = Annotated[int, typer.Option("--top-k", help="Log-probs per query in topk mode.")]
OutputsOpt = Annotated[int | None, typer.Option("--outputs", help="Prompts to query (default: hidden_size + 32).")]
TokensOpt = Annotated[int | None, typer.Option("--tokens", help="Key tokens used (default: all in the key).")]
DecimalsOpt = Annotated[int | None, typer.Option("--decimals", help="Round the local suspect's log-probs (simulated API).")]
NullOpt = Annotated[list[Path] | None, typer.Option(
    "--null", parser=model_path, help="A model unrelated to the owner with its tokenizer, for the language-model null (repeat).")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Arithmetic of the local suspect: float32 | bfloat16 | float16.")]
MethodOpt = Annotated[str, typer.Option(
    "--method", help="subspace (log-probs over the owner's lm_head span) | text (sampled text only).")]
ApiOpt = Annotated[str, typer.Option("--api", help="text: auto | completions | chat (auto: completions where offered).")]
PromptsOpt = Annotated[int | None, typer.Option("--prompts", help="text: prompts of the versioned set (default 100).")]
TemperatureOpt = Annotated[list[float] | None, typer.Option(
    "--temperature", help="text: a sampling temperature (repeat; default 0.7 and 1.0).")]
MaxTokensOpt = Annotated[int | None, typer.Option("--max-tokens", help="text: tokens per completion (default 32).")]


def verify(owner: OwnerOpt, suspect: SuspectOpt, access: AccessOpt = None, top_k: TopKOpt = 5,
           outputs: OutputsOpt = None, tokens: TokensOpt = None, decimals: DecimalsOpt = None,
           dtype: DtypeOpt = "float32", null: NullOpt = None, as_json: JsonOpt = False,
           api_model: ApiModelOpt = None, api_key_env: ApiKeyEnvOpt = None, max_queries: MaxQueriesOpt = None,
           resume: ResumeOpt = False, concurrency: ConcurrencyOpt = 4, cache: QueryCacheOpt = None,
           strategy: StrategyOpt = None, request_timeout: RequestTimeoutOpt = 30.0, method: MethodOpt = "subspace",
           api: ApiOpt = "auto", prompts: PromptsOpt = None, temperature: TemperatureOpt = None,
           max_tokens: MaxTokensOpt = None, download: DownloadOpt = False, base: BaseOpt = None) -> None:
    """Does SUSPECT's output space sit inside OWNER's lm_head span (or, with --method text, does OWNER's
    model explain SUSPECT's text better than unrelated models do)? Verdict with the numbers behind it."""
    from ..errors import InputError
    from ..methods.subspace import SubspaceConfig, verify_endpoint
    from ..methods.subspace import verify as subspace_verify
    from ..outputs import open_suspect
    from ..outputs.openai_endpoint import RetryPolicy
    from ..outputs.source import is_url

    if method == "text":
        _verify_text(owner, suspect, api=api, prompts=prompts, temperature=temperature, max_tokens=max_tokens,
                     null=null, as_json=as_json, api_model=api_model, api_key_env=api_key_env,
                     max_queries=max_queries, resume=resume, concurrency=concurrency, cache=cache,
                     request_timeout=request_timeout)
        return
    if method != "subspace":
        raise InputError(f"--method must be subspace or text, got {method!r}")
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


def _verify_text(owner: Path, suspect: str, *, api: str, prompts: int | None, temperature: list[float] | None,
                 max_tokens: int | None, null: list[Path] | None, as_json: bool, api_model: str | None,
                 api_key_env: str | None, max_queries: int | None, resume: bool, concurrency: int,
                 cache: Path | None, request_timeout: float) -> None:
    from ..methods.text import TEXT, verify_text_endpoint
    from ..outputs.openai_endpoint import RetryPolicy
    from ..outputs.source import is_url

    config = TEXT.configure(n_prompts=prompts, max_tokens=max_tokens,
                            temperatures=tuple(temperature) if temperature else None)
    if is_url(suspect):
        result, report = verify_text_endpoint(owner, suspect, api_model=api_model, config=config, api=api,
                                              api_key_env=api_key_env, cache_path=cache, resume=resume,
                                              max_queries=max_queries, concurrency=concurrency,
                                              retry=RetryPolicy(request_timeout_s=request_timeout),
                                              references=null or ())
        _render.text_result(result, as_json=as_json, endpoint=report)
        return
    if api == "chat":
        config = TEXT.configure(config, api="chat")
    _render.text_result(TEXT.verify(owner, suspect, config, references=null or ()), as_json=as_json)
