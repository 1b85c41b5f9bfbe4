"""``llm-lineage stylometry train|attribute``: which registered model wrote this code?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _render
from ._endpoint_options import ApiKeyEnvOpt, ApiModelOpt, ConcurrencyOpt, MaxQueriesOpt, QueryCacheOpt, ResumeOpt
from ._options import JsonOpt
from .registry import RegistryOpt

app = typer.Typer(name="stylometry", help="Tell registered models apart by the code they write.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.command("train")
def train(registry: RegistryOpt = None,
          names: Annotated[list[str] | None, typer.Option("--name", help="Only this entry (repeat).")] = None,
          samples: Annotated[int, typer.Option("--samples", help="Completions per coding prompt and model.")] = 4,
          max_tokens: Annotated[int, typer.Option("--max-tokens", help="Tokens per completion.")] = 64,
          as_json: JsonOpt = False) -> None:
    """Sample every registered model on the coding prompts, fit the classifier, store it in the registry."""
    from ..registry import Registry
    from ..stylometry import train_registry

    with Registry(registry) as reg:
        report, skipped = train_registry(reg, names=names, samples_per_prompt=samples, max_tokens=max_tokens)
        _render.stylometry_training(report, skipped, as_json=as_json, path=reg.location)


@app.command("attribute")
def attribute(sources: Annotated[list[str], typer.Argument(help="Source files, or one endpoint URL https://HOST/v1.",
                                                           show_default=False)],
              registry: RegistryOpt = None, api_model: ApiModelOpt = None, api_key_env: ApiKeyEnvOpt = None,
              api: Annotated[str, typer.Option("--api", help="auto | completions | chat.")] = "auto",
              cache: QueryCacheOpt = None, resume: ResumeOpt = False, max_queries: MaxQueriesOpt = None,
              concurrency: ConcurrencyOpt = 4, as_json: JsonOpt = False) -> None:
    """Rank the registered models by the probability that they wrote SOURCES (or the endpoint's code)."""
    from ..errors import InputError
    from ..outputs.source import is_url
    from ..registry import Registry
    from ..stylometry import attribute_endpoint, attribute_sources

    with Registry(registry) as reg:
        if any(is_url(s) for s in sources):
            if len(sources) != 1:
                raise InputError("attribute either files or one endpoint URL, not both")
            each, overall, report = attribute_endpoint(reg, sources[0], api_model=api_model, api=api,
                                                       api_key_env=api_key_env, cache_path=cache, resume=resume,
                                                       max_queries=max_queries, concurrency=concurrency)
            _render.stylometry_attribution(each, overall, as_json=as_json, endpoint=report)
            return
        each, overall = attribute_sources(reg, [Path(s) for s in sources])
        _render.stylometry_attribution(each, overall, as_json=as_json)
