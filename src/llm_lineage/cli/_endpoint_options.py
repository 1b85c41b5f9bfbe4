"""Options of commands that query a suspect behind an OpenAI-compatible API (probe, verify)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ApiModelOpt = Annotated[str | None, typer.Option("--api-model", help="Model id the endpoint serves (URL suspects).")]
ApiKeyEnvOpt = Annotated[str | None, typer.Option(
    "--api-key-env", help="Name of the environment variable holding the API key (the key itself is never stored).")]
MaxQueriesOpt = Annotated[int | None, typer.Option("--max-queries", help="Most paid queries this run may send.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Reuse the answers already in the query cache.")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", help="Requests in flight at once.")]
QueryCacheOpt = Annotated[Path | None, typer.Option(
    "--cache", help="SQLite file keeping every answered query (default: one per endpoint and model).")]
StrategyOpt = Annotated[str | None, typer.Option(
    "--strategy", help="full-logprobs, topk-biased, top1-biased, echo or greedy-search (default: cheapest that works).")]
RequestTimeoutOpt = Annotated[float, typer.Option("--request-timeout", help="Seconds before one request is retried.")]
