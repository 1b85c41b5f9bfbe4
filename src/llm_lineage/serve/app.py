"""An OpenAI-compatible ``/v1/completions``, ``/v1/chat/completions`` and ``/v1/models`` server
over a local model (FastAPI).

It answers the legacy completions API the way real providers do: ``logprobs`` (top-k, best
first), ``logit_bias`` (token id -> bias in [-100, 100]), ``echo`` (log-probs of the prompt's
tokens), ``max_tokens`` >= 1; and the chat API (``messages`` through the tokenizer's chat
template, ``logprobs``/``top_logprobs`` in the chat shape). Decoding is greedy unless the request
sets ``temperature`` > 0 (then sampled, reproducibly with ``seed``): the paper's server decodes
greedily, and a text-only suspect is sampled. :class:`ServeOptions` imitates what providers
change quietly: a cap on top-k, no log-probs at all, ``logit_bias`` refused, ignored in the
returned log-probs (OpenAI, vLLM, llama.cpp) or capped in the number of tokens, rounded
log-probs. For tests it injects 429s, 500s and time-outs at a rate, and it counts the queries it
answered (``GET /stats``), so a test can check that no paid query was ever repeated; with
``admin`` on, ``POST /admin/pause`` holds new requests unanswered (``/admin/resume`` lets them
through). Limits keep one request from taking the server: ``max_tokens``, the prompt and the
context, ``logprobs``, the body size, and a bounded queue for the model, which works in a thread
so that the event loop keeps answering.

Tokens come back as their text, or as ``token_id:N`` when the request carries vLLM's
``return_tokens_as_token_ids``. The model itself lives in ``serve/backend.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .backend import LocalBackend, Step

MAX_ABS_BIAS = 100.0


@dataclass(frozen=True)
class ServeOptions:
    """Provider behaviours to imitate and faults to inject; the defaults are the paper's server."""

    max_top_logprobs: int | None = None        # reject ``logprobs`` above this (OpenAI: 5 / 20)
    logprobs: bool = True                      # False: ``logprobs`` is always null
    logit_bias: bool = True                    # False: a request with ``logit_bias`` gets a 400
    ignore_logit_bias_in_logprobs: bool = False  # bias picks the token but log-probs are unbiased
    max_biased_tokens: int | None = None       # reject more biased tokens than this (OpenAI: 300)
    logprob_decimals: int | None = None        # round returned log-probs
    echo: bool = True                          # False: ``echo`` gets a 400
    fault_rate: float = 0.0                    # share of requests that fail before any work
    fault_kinds: tuple[str, ...] = ("429", "500", "timeout")
    fault_delay: float = 2.0                   # seconds a "timeout" fault stalls before its 503
    seed: int = 0
    latency: float = 0.0                       # seconds each answer waits (a provider's round trip)
    # limits: one request must not be able to take the server from everyone else
    max_tokens: int = 256                      # largest ``max_tokens`` (prompt + answer also fit the context)
    max_body_bytes: int = 1_000_000            # larger request bodies get a 413 before they are read
    max_waiting: int = 64                      # requests queued for the model beyond this get a 503
    admin: bool = False                        # /admin/pause and /admin/resume (tests; loopback only)


class _Stats:
    """Server-side count of answered (paid) queries, repeats among them and injected faults."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered = 0
        self.repeated = 0
        self.abandoned = 0  # held while paused, and their client gone by the time they were let through
        self.faults: Counter[str] = Counter()
        self.seen: set[str] = set()
        self.in_flight = 0
        self.peak_in_flight = 0  # answers waiting out ``latency`` at once: what client concurrency reached

    def answer(self, body: dict[str, Any]) -> None:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock:
            self.answered += 1
            if digest in self.seen:
                self.repeated += 1
            self.seen.add(digest)

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"answered": self.answered, "repeated": self.repeated, "distinct": len(self.seen),
                    "abandoned": self.abandoned, "peak_in_flight": self.peak_in_flight,
                    "faults": dict(self.faults)}


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def create_app(backend: LocalBackend, options: ServeOptions = ServeOptions(), *,
               served_name: str | None = None) -> FastAPI:
    """The ASGI app; ``uvicorn.run(create_app(LocalBackend(path)))`` serves it."""
    app = FastAPI(title="llm-lineage serve", docs_url=None, redoc_url=None)
    name = served_name or backend.name
    stats = _Stats()
    rng = random.Random(options.seed)
    rng_lock = threading.Lock()

    def error(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": None}},
                            status_code=status)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "llm-lineage",
                                            "vocab_size": backend.vocab_size}]}

    # tests pause the server to kill a client at a moment when no answer is in flight
    gate = asyncio.Event()
    gate.set()
    held = [0]

    @app.get("/stats")
    def get_stats() -> dict[str, Any]:
        return {**stats.as_dict(), "held": held[0], "paused": not gate.is_set(),
                "forward_passes": backend.forward_passes, "options": asdict(options)}

    if options.admin:
        @app.post("/admin/pause")
        async def pause() -> dict[str, bool]:
            gate.clear()
            return {"paused": True}

        @app.post("/admin/resume")
        async def resume() -> dict[str, bool]:
            gate.set()
            return {"paused": False}

    # the model's work runs in a worker thread, so /v1/models and /stats answer while it runs;
    # past max_waiting queued requests the server says it is busy instead of queueing forever
    waiting = asyncio.Semaphore(options.max_waiting)
    app.add_middleware(BodyLimit, max_bytes=options.max_body_bytes)

    @app.post("/v1/completions")
    async def completions(body: dict[str, Any], request: Request) -> Any:
        return await answer(_complete, body, request)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: dict[str, Any], request: Request) -> Any:
        return await answer(_chat, body, request)

    async def answer(respond: Any, body: dict[str, Any], request: Request) -> Any:
        if not gate.is_set():
            held[0] += 1
            await gate.wait()
            held[0] -= 1
            if await request.is_disconnected():  # its client died while held: nothing was delivered
                with stats.lock:
                    stats.abandoned += 1
                return error(499, "client closed the request", "server_error")
        with rng_lock:
            fault = rng.choice(options.fault_kinds) if rng.random() < options.fault_rate else None
        if fault is not None:
            with stats.lock:
                stats.faults[fault] += 1
            if fault == "429":
                return error(429, "Rate limit reached (injected)", "rate_limit_error")
            if fault == "timeout":
                await asyncio.sleep(options.fault_delay)
                return error(503, "upstream timed out (injected)", "server_error")
            return error(500, "internal error (injected)", "server_error")
        if options.latency > 0:  # awaited, so answers overlap as a provider's do
            with stats.lock:
                stats.in_flight += 1
                stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
            await asyncio.sleep(options.latency)
            with stats.lock:
                stats.in_flight -= 1
        if body.get("model") not in (None, name):
            return error(404, f"The model `{body.get('model')}` does not exist", "invalid_request_error", "model")
        if waiting.locked():
            return error(503, f"server busy: {options.max_waiting} requests are waiting", "server_error")
        try:
            async with waiting:
                reply = await anyio.to_thread.run_sync(respond, backend, options, name, body)
        except BadRequest as exc:
            return error(400, str(exc), "invalid_request_error", exc.param)
        stats.answer(body)
        return reply

    @app.exception_handler(ValueError)
    async def _value_error(request: Request, exc: ValueError) -> JSONResponse:
        return error(400, str(exc), "invalid_request_error")

    return app


def _complete(backend: LocalBackend, options: ServeOptions, name: str, body: dict[str, Any]) -> dict[str, Any]:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]  # a batch of one
    if not isinstance(prompt, str) and not (isinstance(prompt, list) and all(isinstance(t, int) for t in prompt)):
        raise BadRequest("prompt must be a string or a list of token ids", "prompt")
    ids = backend.encode(prompt)
    if not ids:
        raise BadRequest("prompt is empty", "prompt")
    if any(not 0 <= t < backend.vocab_size for t in ids):
        raise BadRequest(f"prompt token ids must be in [0, {backend.vocab_size})", "prompt")
    max_tokens = _fits(backend, options, body, ids, "prompt")
    top_k = _integer(body, "logprobs", None, 0, min(options.max_top_logprobs or backend.vocab_size, backend.vocab_size))
    echo = bool(body.get("echo", False))
    if echo and not options.echo:
        raise BadRequest("echo is not supported", "echo")
    bias = _parse_bias(body.get("logit_bias"), backend.vocab_size, options)

    steps = backend.generate(ids, max_tokens=max_tokens, logit_bias=bias, **_sampling(body))
    as_ids = bool(body.get("return_tokens_as_token_ids", False))
    token = (lambda t: f"token_id:{t}") if as_ids else backend.piece
    logprobs = None
    if top_k is not None and options.logprobs:
        logprobs = _logprobs_block(backend, options, ids if echo else [], steps, top_k, token, bool(bias))
    text = backend.decode([s.token_id for s in steps], after=ids)
    if echo:
        text = (prompt if isinstance(prompt, str) else "".join(backend.piece(t) for t in ids)) + text
    return {
        "id": f"cmpl-{hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]}",
        "object": "text_completion", "created": int(time.time()), "model": name,
        "choices": [{"index": 0, "text": text, "finish_reason": "length", "logprobs": logprobs}],
        "usage": {"prompt_tokens": len(ids), "completion_tokens": len(steps), "total_tokens": len(ids) + len(steps)},
    }


def _chat(backend: LocalBackend, options: ServeOptions, name: str, body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages")
    if not (isinstance(messages, list) and messages and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages)):
        raise BadRequest("messages must be a non-empty list of {role, content} objects with string values", "messages")
    ids = backend.chat_ids(messages)
    max_tokens = _fits(backend, options, body, ids, "messages", field="max_completion_tokens")
    want = body.get("logprobs", False)
    if not isinstance(want, bool):
        raise BadRequest("logprobs must be true or false", "logprobs")
    top_k = _integer(body, "top_logprobs", 0, 0, min(options.max_top_logprobs or 20, backend.vocab_size))
    bias = _parse_bias(body.get("logit_bias"), backend.vocab_size, options)
    steps = backend.generate(ids, max_tokens=max_tokens, logit_bias=bias, **_sampling(body))
    logprobs = None
    if want and options.logprobs:
        use_biased = bool(bias) and not options.ignore_logit_bias_in_logprobs
        content = []
        for step in steps:
            lp = step.biased_logprobs if use_biased else step.logprobs
            best = np.argsort(-lp, kind="stable")[:top_k].tolist() if top_k else []
            content.append({"token": backend.piece(step.token_id), "logprob": float(lp[step.token_id]), "bytes": None,
                            "top_logprobs": [{"token": backend.piece(i), "logprob": float(lp[i]), "bytes": None}
                                             for i in best]})
        logprobs = {"content": content}
    return {
        "id": f"chatcmpl-{hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]}",
        "object": "chat.completion", "created": int(time.time()), "model": name,
        "choices": [{"index": 0, "finish_reason": "length", "logprobs": logprobs,
                     "message": {"role": "assistant", "content": backend.decode([s.token_id for s in steps], after=ids)}}],
        "usage": {"prompt_tokens": len(ids), "completion_tokens": len(steps), "total_tokens": len(ids) + len(steps)},
    }


def _fits(backend: LocalBackend, options: ServeOptions, body: dict[str, Any], ids: list[int], param: str, *,
          field: str = "max_tokens") -> int:
    """``max_tokens`` (or the chat API's newer ``max_completion_tokens``), checked against the context."""
    max_tokens = int(_integer(body, field, None, 1, options.max_tokens) or
                     _integer(body, "max_tokens", 16, 1, options.max_tokens))
    if len(ids) + max_tokens > backend.context:
        raise BadRequest(f"prompt ({len(ids)} tokens) and max_tokens ({max_tokens}) exceed the model's context of "
                         f"{backend.context} tokens", param)
    return max_tokens


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    """``temperature`` in [0, 2] (absent: 0, greedy) and ``seed``, as the backend takes them."""
    temperature = body.get("temperature", 0.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise BadRequest(f"temperature must be a number in [0, 2], got {json.dumps(temperature)[:40]}", "temperature")
    return {"temperature": float(temperature), "seed": _integer(body, "seed", None, 0, 2**63 - 1)}


def _integer(body: dict[str, Any], name: str, default: int | None, low: int, high: int) -> Any:
    """``body[name]`` as an integer in [low, high] (``default`` when absent); anything else is a 400."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer, got {json.dumps(value)[:40]}", name)
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}", name)
    return value


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets a 413, declared or streamed, before
    more than that is read."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"error": {"message": f"request body over {self.max_bytes} bytes",
                                     "type": "invalid_request_error", "param": None, "code": None}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def _parse_bias(raw: Any, vocab_size: int, options: ServeOptions) -> dict[int, float]:
    if not raw:
        return {}
    if not options.logit_bias:
        raise BadRequest("logit_bias is not supported by this model", "logit_bias")
    if not isinstance(raw, dict):
        raise BadRequest("logit_bias must map token ids to numbers", "logit_bias")
    if options.max_biased_tokens is not None and len(raw) > options.max_biased_tokens:
        raise BadRequest(f"logit_bias may name at most {options.max_biased_tokens} tokens", "logit_bias")
    bias: dict[int, float] = {}
    for key, value in raw.items():
        try:
            token_id, b = int(key), float(value)
        except (TypeError, ValueError):
            raise BadRequest(f"invalid logit_bias entry {key!r}: {value!r}", "logit_bias") from None
        if not 0 <= token_id < vocab_size:
            raise BadRequest(f"logit_bias token {token_id} is outside the vocabulary", "logit_bias")
        if not -MAX_ABS_BIAS <= b <= MAX_ABS_BIAS:
            raise BadRequest(f"logit_bias values must be in [-100, 100], got {b}", "logit_bias")
        bias[token_id] = b
    return bias


def _logprobs_block(backend: LocalBackend, options: ServeOptions, prompt_ids: list[int], steps: list[Step],
                    top_k: int, token, biased: bool) -> dict[str, Any]:
    """The completions API's ``logprobs`` object over echoed prompt tokens then generated ones."""
    use_biased = biased and not options.ignore_logit_bias_in_logprobs
    rows: list[tuple[int, Any]] = []          # (token id, log-prob vector or None)
    if prompt_ids:
        rows.append((prompt_ids[0], None))    # the first prompt token has no prediction
        rows += list(zip(prompt_ids[1:], backend.prompt_logprobs(prompt_ids), strict=True))
    rows += [(s.token_id, s.biased_logprobs if use_biased else s.logprobs) for s in steps]

    def rnd(x: float) -> float:
        return round(x, options.logprob_decimals) if options.logprob_decimals is not None else float(x)

    tokens: list[str] = []
    token_logprobs: list[float | None] = []
    tops: list[dict[str, float] | None] = []
    offsets: list[int] = []
    offset = 0
    for token_id, lp in rows:
        tokens.append(token(token_id))
        offsets.append(offset)
        offset += len(backend.piece(token_id))
        if lp is None:
            token_logprobs.append(None)
            tops.append(None)
            continue
        token_logprobs.append(rnd(lp[token_id]))
        best = np.argsort(-lp, kind="stable")[:top_k].tolist() if top_k else []
        top: dict[str, float] = {}
        for i in best:
            top.setdefault(token(i), rnd(lp[i]))  # text keys can collide: keep the likelier
        tops.append(top)
    return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": tops, "text_offset": offsets}
