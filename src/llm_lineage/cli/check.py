"""``llm-lineage check OWNER SUSPECT``: one answer, from every method that applies (``llm_lineage.check``)."""

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
)
from ._options import BaseOpt, DownloadOpt, JsonOpt, model_or_url, model_path

OwnerArg = Annotated[Path, typer.Argument(metavar="OWNER", show_default=False, parser=model_path,
                     help="Your model: directory, .safetensors, .gguf, hub id ORG/NAME or ORG/NAME@REVISION, "
                     "PEFT adapter folder, or a fingerprint file.")]
SuspectArg = Annotated[str, typer.Argument(metavar="SUSPECT", show_default=False, parser=model_or_url,
                       help="The suspect: a model (as OWNER) or an endpoint URL https://HOST/v1 (with --api-model).")]
MethodsOpt = Annotated[str | None, typer.Option("--methods", help="Comma-separated methods to run (default: all that apply).")]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="Family-wise error rate of the combined verdict.")]
NullOpt = Annotated[list[Path] | None, typer.Option("--null", parser=model_path, help="A model unrelated to the owner, for the "
                    "reference-calibrated methods (repeat; 3 or more let them decide).")]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Write report.html (self-contained) and report.json here.")]
OutputsOpt = Annotated[int | None, typer.Option("--outputs", help="Endpoint with log-probs: prompts to query "
                       "(default: the owner's hidden_size + 32).")]
PromptsOpt = Annotated[int | None, typer.Option("--prompts", help="Text-only endpoint: prompts of the versioned set "
                       "(default 100).")]
OwnerIdOpt = Annotated[str | None, typer.Option("--owner-id", help="The name the owner is published under "
                       "(ORG/NAME), to judge what the suspect's model card claims.")]
CardOpt = Annotated[bool, typer.Option("--card", help="Also print the model-card YAML (base_model, "
                    "base_model_relation) the evidence supports (--json: always, as claim.card).")]
FailOnOpt = Annotated[str | None, typer.Option("--fail-on", help="Exit 1 when the verdict is this: derived, unrelated "
                      "or inconclusive (for CI gates).")]


def check(owner: OwnerArg, suspect: SuspectArg, methods: MethodsOpt = None, alpha: AlphaOpt = 0.01,
          null: NullOpt = None, as_json: JsonOpt = False, report: ReportOpt = None, fail_on: FailOnOpt = None,
          api_model: ApiModelOpt = None, api_key_env: ApiKeyEnvOpt = None, max_queries: MaxQueriesOpt = None,
          resume: ResumeOpt = False, concurrency: ConcurrencyOpt = 4, cache: QueryCacheOpt = None,
          request_timeout: RequestTimeoutOpt = 30.0, outputs: OutputsOpt = None, prompts: PromptsOpt = None,
          owner_id: OwnerIdOpt = None, card: CardOpt = False, download: DownloadOpt = False,
          base: BaseOpt = None) -> None:
    """Is SUSPECT derived from OWNER? One verdict over every test that applies, in plain words."""
    from ..check import check as run_check
    from ..errors import InputError
    from ..outputs.openai_endpoint import RetryPolicy
    from ..outputs.source import is_url
    from ..stats import Verdict

    if fail_on is not None and fail_on not in {v.value for v in Verdict}:
        raise InputError(f"--fail-on must be derived, unrelated or inconclusive, not {fail_on!r}")
    if not 0 < alpha < 1:
        raise InputError(f"--alpha must be between 0 and 1, not {alpha}")
    endpoint = dict(api_key_env=api_key_env, cache_path=cache, resume=resume, max_queries=max_queries,
                    concurrency=concurrency, retry=RetryPolicy(request_timeout_s=request_timeout)) if is_url(suspect) else {}
    result = run_check(owner, suspect, methods=methods.split(",") if methods else None, alpha=alpha,
                       references=tuple(null or ()), api_model=api_model, progress=not as_json, n_outputs=outputs,
                       n_prompts=prompts, owner_id=owner_id, **endpoint)
    written = None
    if report is not None:
        from ..check.report import write_report

        written = write_report(result, report)
    _render.check_result(result, as_json=as_json, report=written)
    if card and not as_json and result.claim:  # --json carries it as claim.card
        _render.console.print(result.claim["card"], end="", markup=False, highlight=False)
    if fail_on is not None and result.verdict.value == fail_on:
        raise typer.Exit(1)
