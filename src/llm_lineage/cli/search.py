"""``llm-lineage search SUSPECT``: which registered owner, if any, does SUSPECT descend from?"""

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
from ._options import BaseOpt, DownloadOpt, JsonOpt, model_or_url
from .registry import RegistryOpt
from .verify import OutputsOpt, TokensOpt

SuspectArg = Annotated[str, typer.Argument(
    help="Model directory / weight file (white-box) or http(s):// OpenAI-compatible endpoint (black-box).",
    parser=model_or_url, show_default=False)]
TokenizerOpt = Annotated[Path | None, typer.Option(
    "--tokenizer", help="Directory whose tokenizer reads an endpoint's token text as ids "
                        "(default: a registered owner's source directory, if it is still there).")]


def search(suspect: SuspectArg, registry: RegistryOpt = None,
           top: Annotated[int, typer.Option("--top", min=1, help="Candidates to show, best first.")] = 5,
           shortlist: Annotated[int | None, typer.Option(
               "--shortlist", min=1, help="Owners compared in full after the summary shortlist (default 2 x top).")] = None,
           as_json: JsonOpt = False,
           api_model: ApiModelOpt = None, api_key_env: ApiKeyEnvOpt = None, max_queries: MaxQueriesOpt = None,
           resume: ResumeOpt = False, concurrency: ConcurrencyOpt = 4, cache: QueryCacheOpt = None,
           strategy: StrategyOpt = None, request_timeout: RequestTimeoutOpt = 30.0,
           outputs: OutputsOpt = None, tokens: TokensOpt = None, tokenizer: TokenizerOpt = None,
           graph: Annotated[bool, typer.Option(
               "--graph", help="Also say where SUSPECT attaches to the registry's family tree.")] = False,
           download: DownloadOpt = False, base: BaseOpt = None) -> None:
    """Rank registered owners by the evidence that SUSPECT descends from them.

    An endpoint SUSPECT is probed once and queried once for all registered owner keys.
    """
    from ..methods.subspace import SubspaceConfig
    from ..outputs.openai_endpoint import RetryPolicy
    from ..outputs.source import is_url
    from ..registry import Registry
    from ..registry import search as run_search

    endpoint_options = None
    if is_url(suspect):
        endpoint_options = dict(api_model=api_model, config=SubspaceConfig(n_outputs=outputs, n_tokens=tokens),
                                tokenizer_dir=tokenizer, api_key_env=api_key_env, cache_path=cache, resume=resume,
                                max_queries=max_queries, concurrency=concurrency, strategy=strategy,
                                retry=RetryPolicy(request_timeout_s=request_timeout))
    with Registry(registry) as reg:
        result = run_search(suspect, reg, top=top, shortlist_size=shortlist, progress=not as_json,
                            endpoint_options=endpoint_options)
        tree = None
        if graph:
            from ..registry.lineage import attachment, lineage_graph

            tree = attachment(lineage_graph(reg, progress=not as_json), result)
    _render.search_result(result, as_json=as_json, attachment=tree)
