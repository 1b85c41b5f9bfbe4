"""The text method against an OpenAI-compatible endpoint: which API it offers, a durable sampling
campaign, and the verdict with its bill.

The endpoint is asked for one greedy token through ``/v1/completions`` and through
``/v1/chat/completions`` (both cached); ``api="auto"`` samples through completions where offered
(a raw continuation, as the references are sampled) and through chat otherwise (the references
then answer through their own chat templates). Every sampled completion goes through the
query cache first: a campaign killed at any point resumes with ``resume=True`` and pays only for
what it had not received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ...errors import EndpointUnsupported, InputError
from ...outputs.cache import QueryCache
from ...outputs.campaign import default_cache_path
from ...outputs.openai_endpoint import OpenAIEndpoint, RetryPolicy
from ...outputs.probe import api_offered
from .method import TEXT, TextConfig, TextResult
from .sample import sample_endpoint

APIS = ("auto", "completions", "chat")


@dataclass(frozen=True)
class TextCampaignReport:
    """What the endpoint offered, how it was sampled and what that cost (never the API key)."""

    endpoint: str
    model: str
    api: str                 # the API the completions came through
    completions_api: bool    # offered /v1/completions
    chat_api: bool           # offered /v1/chat/completions
    completions: int         # sampled completions the verdict rests on
    queries_used: int        # paid in this run
    queries_cached: int      # read back from the cache instead of paid again
    queries_retried: int
    max_queries: int | None
    cache: str | None


def verify_text_endpoint(owner: str | Path, url: str, *, api_model: str | None, config: TextConfig = TextConfig(),
                         api: str = "auto", api_key_env: str | None = None, cache_path: str | Path | None = None,
                         resume: bool = False, max_queries: int | None = None, concurrency: int = 4,
                         retry: RetryPolicy = RetryPolicy(),
                         references: Sequence[str | Path] = ()) -> tuple[TextResult, TextCampaignReport]:
    """Sample the endpoint on ``config``'s plan and run :meth:`TextMethod.verify` on its text."""
    from .method import owner_handle

    owner_handle(owner)  # a bad owner fails before anything is paid for
    with TextEndpoint(url, api_model=api_model, api=api, api_key_env=api_key_env, cache_path=cache_path,
                      resume=resume, max_queries=max_queries, concurrency=concurrency, retry=retry) as text:
        config = replace(config, api=text.api)
        sample = sample_endpoint(text.endpoint, config.plan())
        result = TEXT.verify(owner, sample, config, references=references)
        report = text.report(len(sample.completions))
    return result, report


class TextEndpoint:
    """An endpoint opened for sampling text: its query cache, which APIs it answers, the one chosen."""

    def __init__(self, url: str, *, api_model: str | None, api: str = "auto", api_key_env: str | None = None,
                 cache_path: str | Path | None = None, resume: bool = False, max_queries: int | None = None,
                 concurrency: int = 4, retry: RetryPolicy = RetryPolicy()) -> None:
        if api not in APIS:
            raise InputError(f"--api must be one of {', '.join(APIS)}, got {api!r}")
        if not api_model:
            raise InputError("a URL suspect needs --api-model NAME (the model id the endpoint serves)")
        path = Path(cache_path) if cache_path is not None else default_cache_path(url, api_model)
        self.cache = QueryCache(path, endpoint=url, model=api_model, resume=resume, max_queries=max_queries)
        try:
            self.endpoint = OpenAIEndpoint(url, api_model, vocab_size=0, api_key_env=api_key_env, cache=self.cache,
                                           concurrency=concurrency, retry=retry)
            self.completions, self.chat = api_offered(self.endpoint, "completions"), api_offered(self.endpoint, "chat")
            self.api = ("completions" if self.completions else "chat") if api == "auto" else api
            if not (self.completions if self.api == "completions" else self.chat):
                offered = [name for name, ok in (("completions", self.completions), ("chat", self.chat)) if ok]
                raise EndpointUnsupported(f"{url} does not answer /v1/{'chat/' if self.api == 'chat' else ''}"
                                          "completions", hint=f"it offers: {', '.join(offered) or 'neither'}")
        except BaseException:
            self.cache.close()
            raise

    def report(self, n_completions: int) -> TextCampaignReport:
        counts = self.cache.counts()
        return TextCampaignReport(self.endpoint.base_url, self.endpoint.model, self.api, self.completions, self.chat,
                                  n_completions, counts.used, counts.cached, counts.retried, counts.max_queries,
                                  str(self.cache.path) if self.cache.path else None)

    def __enter__(self) -> TextEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cache.close()
