"""A suspect behind an OpenAI-compatible completions API, as an :class:`OutputSource`; and sampled
text from its completions or chat API (:meth:`OpenAIEndpoint.sample`) for text-only suspects.

Every request goes through the official ``openai`` SDK (``client.completions.create``, or
``client.chat.completions.create`` for chat), through
the durable :class:`~llm_lineage.outputs.cache.QueryCache` (an answered query is committed to disk
before it is used and never paid for twice) and through our own retry loop: 429s, 5xx, time-outs
and dropped connections are retried with exponential backoff and full jitter, up to a bounded
number of attempts and a bounded total time per query; the SDK's own retries are off so that
each attempt is counted. Requests run on a thread pool of configurable size.

The API key is read from the environment variable the caller names and handed to the SDK only;
it is not an attribute of this object, a request parameter, a cache entry or a log line.

Servers return tokens as text (OpenAI), as ``token_id:N`` when asked with vLLM's
``return_tokens_as_token_ids``, or with their ``id`` beside the text (llama.cpp's ``llama-server``,
whose completions answer in the chat API's per-token ``content`` form). Ids are read as they come;
text is mapped back to ids through the owner's tokenizer, and pieces whose text is ambiguous
(several ids decode alike) are dropped, never guessed.
What the endpoint can do is measured by ``outputs/probe.py``; how log-prob vectors are assembled
from answers is ``outputs/strategies.py``.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import (
    EndpointError,
    EndpointMalformed,
    EndpointRejected,
    EndpointUnavailable,
    EndpointUnsupported,
    InputError,
    first_line,
)
from .cache import QueryCache
from .source import Capabilities, TopLogprobs

TOKEN_ID_PREFIX = "token_id:"
LOGPROB_SLACK = 1e-3  # servers round log-probs; a value above this is no log-prob
# request fields that are part of the cache key but never sent: which API answered (a chat answer
# is not a completion) and which tokens of a whole-vocabulary answer were kept
_CACHE_ONLY = ("api", "kept_tokens")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: ``max_retries`` extra attempts per query, waits of
    ``uniform(0, min(max_delay, base_delay * 2**attempt))`` (full jitter), at most ``total_s``
    seconds per query in all, each attempt cut off after ``request_timeout_s``."""

    max_retries: int = 8
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    total_s: float = 300.0
    request_timeout_s: float = 30.0


class TokenVocabulary:
    """Maps the token text a server returns back to token ids, through the owner's tokenizer."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self.tokenizer = tokenizer
        by_text: dict[str, list[int]] = {}
        for token_id in range(vocab_size):
            by_text.setdefault(tokenizer.decode([token_id]), []).append(token_id)
        self._ids = {text: ids[0] for text, ids in by_text.items() if len(ids) == 1}
        self._texts = {token_id: text for text, token_id in self._ids.items()}
        self.ambiguous = sum(len(ids) for ids in by_text.values() if len(ids) > 1)

    def id_of(self, text: str) -> int | None:
        return self._ids.get(text)

    def text_of(self, token_id: int) -> str | None:
        """The owner's text of ``token_id`` (None when another id decodes alike, or out of range)."""
        return self._texts.get(token_id)

    def encode(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt)["input_ids"])


class OpenAIEndpoint:
    """An OpenAI-compatible ``/v1/completions`` endpoint as a suspect.

    Parameters
    ----------
    base_url : ``https://HOST/v1``; ``http`` is accepted for loopback servers.
    model : the ``model`` id requests name (``--api-model``).
    vocab_size : the suspect's vocabulary size (the owner's: the subspace test needs the same one).
    api_key_env : name of the environment variable holding the key; None sends a placeholder.
    vocabulary : maps returned token text to ids (needed unless the server returns token ids).
    cache : where answers are kept; None keeps them in memory for this run only.
    concurrency : requests in flight at once.
    """

    def __init__(self, base_url: str, model: str, *, vocab_size: int, api_key_env: str | None = None,
                 vocabulary: TokenVocabulary | None = None, cache: QueryCache | None = None,
                 concurrency: int = 4, retry: RetryPolicy = RetryPolicy(),
                 capabilities: Capabilities = Capabilities(), token_ids: bool = True,
                 extra_body: Mapping[str, Any] | None = None) -> None:
        from openai import OpenAI

        if not base_url.startswith(("http://", "https://")):
            raise InputError(f"suspect URL {base_url!r} must start with http:// or https://")
        if concurrency < 1:
            raise InputError(f"--concurrency must be >= 1, got {concurrency}")
        api_key = "not-needed"
        if api_key_env:
            if not os.environ.get(api_key_env):
                raise InputError(f"environment variable {api_key_env} (named by --api-key-env) is not set")
            api_key = os.environ[api_key_env]
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"{model}@{self.base_url}"
        self.vocab_size = int(vocab_size)
        self.vocabulary = vocabulary
        self.cache = cache or QueryCache(None, endpoint=self.base_url, model=model)
        self.concurrency = concurrency
        self.retry = retry
        self.capabilities = capabilities
        self.token_ids = token_ids  # ask for ``token_id:N`` tokens (cleared by the probe if refused)
        # the server's ids are not the owner's (a shuffled or extended vocabulary, found by the
        # probe): its tokens are read by their text, through the owner's tokenizer
        self.read_by_text = False
        # server-specific sampling fields sent with every request (llama.cpp: {"repeat_penalty": 1.0})
        self.extra_body = dict(extra_body or {})
        self.n_queries = 0          # answers received, paid now or read from the cache
        self._count_lock = threading.Lock()
        self._client = OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0,
                              timeout=retry.request_timeout_s)
        # servers may echo the Authorization header in an error; it is cut from every message we build
        self._secret = api_key if api_key_env else None

    def __repr__(self) -> str:  # never the client: it holds the key
        return f"OpenAIEndpoint({self.base_url!r}, model={self.model!r})"

    # --- one request, cached and retried -------------------------------------------------------

    def request(self, prompt: str | Sequence[int], *, logprobs: int | None = None, max_tokens: int = 1,
                logit_bias: Mapping[int, float] | None = None, echo: bool = False,
                max_retries: int | None = None, keep: np.ndarray | None = None) -> dict[str, Any]:
        """One greedy completion (temperature 0) as the server's JSON; cached, budgeted, retried
        (``max_retries`` overrides the policy's count, for a probe's capability check).

        ``keep``: the only token ids whose log-probs the caller reads. A whole-vocabulary answer
        is then stored (and returned) with just those, so that the cache grows with the key's
        tokens, not with vocab x prompts (49,152 log-probs per answer for SmolLM2: 5 MB each)."""
        params: dict[str, Any] = {"prompt": prompt if isinstance(prompt, str) else [int(t) for t in prompt],
                                  "max_tokens": max_tokens, "temperature": 0.0}
        if logprobs is not None:
            params["logprobs"] = int(logprobs)
        if logit_bias:
            params["logit_bias"] = {str(int(k)): float(v) for k, v in sorted(logit_bias.items())}
        if echo:
            params["echo"] = True
        if self.token_ids:
            params["return_tokens_as_token_ids"] = True
        params.update(self.extra_body)
        kept = None
        if keep is not None:
            kept = np.unique(np.asarray(keep, dtype=np.int64))
            params["kept_tokens"] = f"{kept.size}:{hashlib.sha256(kept.tobytes()).hexdigest()[:32]}"
        return self._send(params, self.retry.max_retries if max_retries is None else max_retries, kept)

    def sample(self, prompt: str, *, api: str = "completions", max_tokens: int = 32, temperature: float = 1.0,
               seed: int = 0, max_retries: int | None = None) -> str:
        """One sampled continuation of ``prompt`` as text, through ``/v1/completions`` or, with
        ``api="chat"``, ``/v1/chat/completions`` (the prompt as one user message); cached like
        every query. The ``seed`` makes repeated samples distinct requests (and reproducible where
        the server honours it)."""
        params: dict[str, Any] = {"api": api, "max_tokens": max_tokens, "temperature": float(temperature),
                                  "seed": int(seed)}
        if api == "chat":
            params["messages"] = [{"role": "user", "content": prompt}]
        else:
            params["prompt"] = prompt
        params.update(self.extra_body)
        answer = self._send(params, self.retry.max_retries if max_retries is None else max_retries)
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"] if api == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError) as exc:
            raise EndpointMalformed(f"{self.base_url} answered without a {api} choice ({type(exc).__name__})") from None
        if not isinstance(text, str):
            raise EndpointMalformed(f"{self.base_url} answered with {type(text).__name__} content, not text")
        return text

    def request_many(self, calls: Sequence[Mapping[str, Any]], *, method: str = "request") -> list[Any]:
        """Run ``request(**call)`` (or another method, e.g. ``sample``) for each call, ``concurrency``
        at a time, answers in order."""
        call_one = getattr(self, method)
        if self.concurrency == 1 or len(calls) <= 1:
            return [call_one(**call) for call in calls]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(call_one, **call) for call in calls]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:
                f.cancel()
            for f in futures:
                if f.done() and not f.cancelled() and f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]
            return [f.result() for f in futures]

    def _send(self, params: dict[str, Any], max_retries: int, keep: np.ndarray | None = None) -> dict[str, Any]:
        import openai

        stored = self.cache.get(params)
        if stored is not None:
            self._count()
            return stored
        self.cache.reserve()
        extra_keys = {"return_tokens_as_token_ids", *self.extra_body}  # not the SDK's own arguments
        standard = {k: v for k, v in params.items() if k not in extra_keys and k not in _CACHE_ONLY}
        extra = {k: v for k, v in params.items() if k in extra_keys}
        create = self._client.chat.completions.create if params.get("api") == "chat" else self._client.completions.create
        started = time.monotonic()
        last = ""
        for attempt in range(max_retries + 1):
            try:
                answer = create(model=self.model, **standard, extra_body=extra or None)
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError) as exc:
                last = self.redact(_describe(exc))
            except openai.APIStatusError as exc:
                self.cache.release()
                if exc.status_code in (401, 403):
                    raise EndpointError(f"{self.base_url} refused the credentials ({exc.status_code})",
                                        hint="check the key in the variable named by --api-key-env") from None
                raise EndpointRejected(f"{self.base_url} rejected the request ({exc.status_code}): "
                                       f"{self.redact(_message(exc))}", status=exc.status_code) from None
            except (openai.APIResponseValidationError, ValueError) as exc:  # not JSON, or not a completion
                self.cache.release()
                raise EndpointMalformed(f"{self.base_url} answered with something that is not a completion: "
                                        f"{self.redact(first_line(exc))}") from None
            except Exception:
                self.cache.release()
                raise
            else:
                data = answer.model_dump(exclude_unset=False)
                if keep is not None:
                    data = self._kept(data, keep)
                self.cache.put(params, data)  # committed before anyone reads it
                self._count()
                return data
            elapsed = time.monotonic() - started
            if attempt == max_retries or elapsed >= self.retry.total_s:
                break
            self.cache.note_retry()
            delay = random.uniform(0.0, min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** attempt))
            time.sleep(min(delay, max(0.0, self.retry.total_s - elapsed)))
        self.cache.release()
        raise EndpointUnavailable(f"{self.base_url} kept failing after {attempt + 1} attempts "
                                  f"in {time.monotonic() - started:.1f} s (last: {last})")

    def _kept(self, answer: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
        """``answer`` with only the ``keep`` tokens in its ``top_logprobs``, in the completions
        form (the sampled tokens stay). An answer of the wrong shape is kept whole, for
        :meth:`position` to report."""
        wanted = set(keep.tolist())
        try:
            block = self.logprobs_block(answer)
            if not isinstance(block, Mapping):
                return answer
            top = [{token: value for token, value in (entry or {}).items() if self.token_id(token) in wanted}
                   for entry in block.get("top_logprobs") or []]
            choice = {**answer["choices"][0], "logprobs": {**block, "top_logprobs": top}}
        except (AttributeError, TypeError, KeyError, IndexError, ValueError, EndpointMalformed,
                EndpointUnsupported):
            return answer
        return {**answer, "choices": [choice]}

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced, so that no message, log or cache holds it."""
        return text.replace(self._secret, "[api key]") if self._secret else text

    def _count(self) -> None:
        with self._count_lock:
            self.n_queries += 1

    # --- reading answers -----------------------------------------------------------------------

    def token_id(self, token: str) -> int | None:
        """The id of a returned token (``token_id:N`` or text); None when it cannot be told."""
        if token.startswith(TOKEN_ID_PREFIX):
            try:
                return int(token[len(TOKEN_ID_PREFIX):])
            except ValueError:
                return None
        if self.vocabulary is None:
            raise EndpointUnsupported(f"{self.base_url} returns tokens as text and no tokenizer was given "
                                      "to map them to token ids", hint="pass the owner's model directory")
        return self.vocabulary.id_of(token)

    def position(self, answer: Mapping[str, Any], index: int = -1) -> TopLogprobs:
        """Token ids and log-probs at one position of an answer (``index=-1``: the last).

        An answer of the wrong shape, or with a log-prob that is not a finite number <= 0, is
        reported (:class:`EndpointMalformed`), never read as evidence."""
        try:
            block = self.logprobs_block(answer)
            if block is None:
                raise EndpointUnsupported(f"{self.base_url} returned no log-probs",
                                          hint="this endpoint can only be verified with --strategy greedy-search")
            top = (block.get("top_logprobs") or [None])[index] or {}
            ids, values = [], []
            for token, value in top.items():
                token_id = self.token_id(token)
                if token_id is not None and value is not None:
                    ids.append(token_id)
                    values.append(float(value))
            tokens = block.get("tokens") or []
            sampled = self.token_id(tokens[index]) if tokens else None
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            raise EndpointMalformed(f"{self.base_url} returned log-probs of the wrong shape "
                                    f"({type(exc).__name__}: {self.redact(first_line(exc))})") from None
        bad = [v for v in values if not (math.isfinite(v) and v <= LOGPROB_SLACK)]
        if bad:
            raise EndpointMalformed(f"{self.base_url} returned a log-prob of {bad[0]!r}: log-probs are finite and <= 0")
        order = np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")
        return TopLogprobs(np.asarray(ids, dtype=np.int64)[order], np.asarray(values, dtype=np.float64)[order],
                           sampled)

    def logprobs_block(self, answer: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """:func:`_logprobs_block`, tokens keyed as this endpoint reads them (ids, or text)."""
        return _logprobs_block(answer, by_text=self.read_by_text)

    def generated_id(self, answer: Mapping[str, Any]) -> int | None:
        """The greedy token of a one-token answer, from its log-probs or, failing that, its text."""
        block = self.logprobs_block(answer)
        if block and block.get("tokens"):
            return self.token_id(block["tokens"][-1])
        if self.vocabulary is None:
            raise EndpointUnsupported(f"{self.base_url} returns neither log-probs nor token ids, and no "
                                      "tokenizer was given to read its text")
        text = answer["choices"][0].get("text") or ""
        return self.vocabulary.id_of(text)

    # --- OutputSource --------------------------------------------------------------------------

    def top_logprobs(self, prompt: str, *, top_k: int, logit_bias: Mapping[int, float] | None = None,
                     keep: np.ndarray | None = None) -> TopLogprobs:
        return self.position(self.request(prompt, logprobs=top_k, logit_bias=logit_bias, keep=keep))

    def logprobs(self, prompt: str) -> np.ndarray:
        """Full log-prob vector from one query; only when ``top_logprobs`` reaches the whole vocabulary."""
        if self.capabilities.top_k < self.vocab_size:
            raise EndpointUnsupported(f"{self.base_url} returns at most {self.capabilities.top_k} log-probs, "
                                      f"not the whole vocabulary of {self.vocab_size}")
        return self.all_logprobs(prompt)

    def all_logprobs(self, prompt: str, tokens: np.ndarray | None = None) -> np.ndarray:
        """One query for every log-prob; shape (vocab_size,), NaN where a token was not returned
        (and, with ``tokens``, everywhere else: only those are kept, in the cache as here)."""
        # the whole answer, which may be wider than the owner's vocabulary (tokens appended to it,
        # found by the probe); those tokens are no evidence about the owner's lm_head
        top = self.top_logprobs(prompt, top_k=max(self.vocab_size, self.capabilities.top_k), keep=tokens)
        inside = (top.token_ids >= 0) & (top.token_ids < self.vocab_size)
        out = np.full(self.vocab_size, np.nan)
        out[top.token_ids[inside]] = top.logprobs[inside]
        return out

    def logits(self, prompt: str) -> np.ndarray:
        raise EndpointUnsupported(f"{self.base_url} is an API: it returns log-probs, never raw logits")


def _logprobs_block(answer: Mapping[str, Any], *, by_text: bool = False) -> Mapping[str, Any] | None:
    """The completions API's log-prob columns (``tokens``, ``token_logprobs``, ``top_logprobs``)
    of an answer's first choice, whichever of the two forms servers use it came in."""
    content = _content(answer)
    if content is not None:
        return _columns(content, by_text)
    choices = answer.get("choices") or []
    return choices[0].get("logprobs") if choices else None


def _content(answer: Mapping[str, Any]) -> list[Any] | None:
    """The per-token form of an answer's log-probs, if it came in that form."""
    choices = answer.get("choices") or []
    block = choices[0].get("logprobs") if choices else None
    if isinstance(block, Mapping) and not block.get("tokens") and isinstance(block.get("content"), list):
        return block["content"]
    return None


def id_text_pairs(answer: Mapping[str, Any]) -> list[tuple[int, str]]:
    """Every (id, text) an answer in the per-token form names (llama-server gives both)."""
    pairs = []
    for entry in _content(answer) or []:
        for item in [entry, *((entry.get("top_logprobs") or []) if isinstance(entry, Mapping) else [])]:
            if isinstance(item, Mapping) and isinstance(item.get("id"), int) and isinstance(item.get("token"), str):
                pairs.append((item["id"], item["token"]))
    return pairs


def _columns(content: list[Any], by_text: bool) -> dict[str, list[Any]]:
    """The per-token form (``[{id?, token, logprob, top_logprobs: [{id?, token, logprob}]}]``,
    llama-server's completions and every chat API) as columns; a token with an ``id`` is keyed
    ``token_id:N`` (no tokenizer has to guess it back from its text) unless ``by_text``."""
    def key(entry: Mapping[str, Any]) -> str:
        token_id = entry.get("id")
        return f"{TOKEN_ID_PREFIX}{token_id}" if isinstance(token_id, int) and not by_text else str(entry["token"])

    try:
        return {"tokens": [key(e) for e in content], "token_logprobs": [e.get("logprob") for e in content],
                "top_logprobs": [{key(t): t.get("logprob") for t in e.get("top_logprobs") or []} for e in content]}
    except (AttributeError, TypeError, KeyError) as exc:
        raise EndpointMalformed(f"log-probs of the wrong shape in a per-token answer ({type(exc).__name__}: "
                                f"{first_line(exc)})") from None


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", exc))


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" {status}" if status else "")
