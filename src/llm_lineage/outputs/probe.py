"""Probe before you spend: what an OpenAI-compatible endpoint really does, in a handful of queries.

Providers differ and many change things quietly: no log-probs, a cap on ``logprobs`` (top-k),
``logit_bias`` refused, or accepted but left out of the returned log-probs (OpenAI, Google, vLLM,
llama.cpp), a cap on the number of biased tokens, rounded log-probs, no prompt log-probs
(``echo``); and whether the chat API answers too. :func:`probe` measures each with at most about twenty queries (all through the
endpoint's cache, so a resumed campaign does not pay for them again) and returns a
:class:`ProbeResult`, which ``outputs/strategies.py`` turns into the cheapest strategy that works.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import EndpointMalformed, EndpointRejected, EndpointUnavailable, EndpointUnsupported
from .openai_endpoint import TOKEN_ID_PREFIX, OpenAIEndpoint, _logprobs_block, id_text_pairs
from .source import Capabilities

PROBE_PROMPT = "Once upon a time"
_BIAS_MARGIN = 5.0  # bias beyond the top-1/top-2 gap, so the biased token must win


@dataclass(frozen=True)
class ProbeResult:
    """What the endpoint did when asked; ``strategy`` is filled in by ``strategies.choose``."""

    endpoint: str
    model: str
    vocab_size: int
    logprobs: bool                   # returns log-probs at all
    top_logprobs_cap: int            # most entries one answer holds (0: none)
    token_ids: bool                  # returns ``token_id:N`` tokens (vLLM's flag honoured)
    logit_bias: bool                 # accepts logit_bias
    bias_changes_sampling: bool      # a large bias makes the greedy token change
    bias_shifts_logprobs: bool       # the returned log-probs reflect the bias (the paper's assumption)
    max_biased_tokens: int | None    # None: the whole vocabulary may be biased at once
    max_bias: float                  # largest |bias| accepted
    logprob_decimals: int | None     # returned log-probs are rounded to this many decimals
    echo: bool                       # scores prompt tokens (echo + logprobs)
    n_queries: int                   # queries the probe sent (paid or cached)
    notes: tuple[str, ...] = ()
    strategy: str | None = None
    strategy_reason: str = ""
    strategies: dict[str, Any] = field(default_factory=dict)  # each candidate: cost or why not
    chat: bool = False               # also answers /v1/chat/completions
    ids_differ: bool = False         # its ids are not the owner's: tokens are read by their text

    def capabilities(self) -> Capabilities:
        return Capabilities(probs=self.top_logprobs_cap >= self.vocab_size, top_k=self.top_logprobs_cap,
                            logit_bias=self.logit_bias and self.bias_changes_sampling,
                            bias_shifts_logprobs=self.bias_shifts_logprobs, max_bias=self.max_bias,
                            max_biased_tokens=self.max_biased_tokens, prompt_logprobs=self.echo,
                            logprob_decimals=self.logprob_decimals)


def probe(endpoint: OpenAIEndpoint, *, prompt: str = PROBE_PROMPT) -> ProbeResult:
    """Measure the endpoint's behaviour; sets ``endpoint.capabilities`` and ``endpoint.token_ids``."""
    start = endpoint.n_queries
    notes: list[str] = []
    vocab = endpoint.vocab_size

    # 0. the chat API, for the record (and for text-only verification when completions are absent)
    chat = api_offered(endpoint, "chat", prompt)

    # 1. log-probs at all, and whether tokens come back as ids
    try:
        first = endpoint.request(prompt, logprobs=1)
    except EndpointRejected as exc:
        if chat and exc.status in (404, 405):
            raise EndpointUnsupported(f"{endpoint.base_url} offers only /v1/chat/completions, which returns no "
                                      "log-probs over the vocabulary that this test can use",
                                      hint="verify it from its text: --method text") from None
        if not endpoint.token_ids:
            raise EndpointUnsupported(f"{endpoint.base_url} rejects a plain one-token completion: {exc}") from None
        endpoint.token_ids = False
        notes.append("return_tokens_as_token_ids refused; tokens are read as text")
        try:
            first = endpoint.request(prompt, logprobs=1)
        except EndpointRejected:
            first = endpoint.request(prompt)
            notes.append("the logprobs parameter is refused")
    block = _logprobs_block(first)
    has_logprobs = bool(block and any(block.get("top_logprobs") or []))  # [{}]: the key, no log-probs
    tokens = (block or {}).get("tokens") or []
    token_ids = bool(tokens) and all(str(t).startswith(TOKEN_ID_PREFIX) for t in tokens)
    if endpoint.token_ids and not token_ids:
        endpoint.token_ids = False
        notes.append("return_tokens_as_token_ids ignored; tokens are read as text")

    # 2. the top-k cap, and rounding of what comes back
    cap, top_answer = (_top_k_cap(endpoint, prompt, vocab, notes) if has_logprobs else (0, None))
    decimals = _decimals(top_answer) if top_answer is not None else None
    greedy = endpoint.generated_id(first)

    # 2b. ids that are not the owner's (a shuffled or extended vocabulary): read tokens by their text;
    # logit_bias and echo name tokens by id, so they cannot be used on such a server
    endpoint.read_by_text = ids_differ = _ids_differ(endpoint, top_answer or first, notes)
    if ids_differ:
        greedy = endpoint.generated_id(first)
        accepted = changes = shifts = echo = False
        max_bias, max_biased = 0.0, None
    else:
        # 3. logit_bias: accepted? changes the greedy token? shifts the returned log-probs?
        accepted, changes, shifts, max_bias = _bias_effect(endpoint, prompt, greedy, min(cap, 5), notes)
        # 4. how many tokens one request may bias
        max_biased = _biased_token_cap(endpoint, prompt, vocab, notes) if accepted else None
        # 5. prompt log-probs through echo
        echo = _echo_works(endpoint, prompt, notes) if has_logprobs else False

    result = ProbeResult(endpoint.base_url, endpoint.model, vocab, has_logprobs, cap, token_ids, accepted, changes,
                         shifts, max_biased, max_bias, decimals, echo, endpoint.n_queries - start, tuple(notes),
                         chat=chat, ids_differ=ids_differ)
    endpoint.capabilities = result.capabilities()
    return result


def _ids_differ(endpoint: OpenAIEndpoint, answer: dict[str, Any], notes: list[str]) -> bool:
    """Whether the server's token ids are not the owner's: the text it returns beside each id
    (llama-server does) is, for more than 5% of them, not the owner's text of that id. A few
    disagreements are decoding details (byte tokens, spaces), not another vocabulary."""
    pairs = id_text_pairs(answer)
    if endpoint.vocabulary is None or not pairs:
        return False
    # ids beyond the owner's vocabulary are appended tokens, not a sign of other ids
    known = [(i, t) for i, t in pairs if endpoint.vocabulary.text_of(i) is not None]
    differ = sum(endpoint.vocabulary.text_of(i) != t for i, t in known)
    if differ <= max(2, 0.05 * len(known)):
        return False
    notes.append(f"its token ids are not the owner's ({differ} of {len(known)} returned ids carry other text): "
                 "tokens are read by their text through the owner's tokenizer, so logit_bias and echo "
                 "(which name tokens by id) are not used")
    return True


def api_offered(endpoint: OpenAIEndpoint, api: str, prompt: str = PROBE_PROMPT) -> bool:
    """Whether the endpoint answers one greedy token through ``api`` ("completions" or "chat")."""
    try:
        endpoint.sample(prompt, api=api, max_tokens=1, temperature=0.0, seed=0, max_retries=1)
    except (EndpointRejected, EndpointMalformed, EndpointUnavailable):
        return False
    return True


def _cap_from_message(message: str) -> int | None:
    match = re.search(r"(?:<=|at most|maximum(?: of)?|less than or equal to|up to)\s*(\d+)", message)
    return int(match.group(1)) if match else None


def _largest_accepted(candidates: list[int], vocab: int, ask) -> tuple[int, Any]:
    """Step down through ``candidates`` (and any cap a rejection names) to the first size accepted."""
    tried: set[int] = set()
    while candidates:
        n = candidates.pop(0)
        if n in tried or n > vocab:
            continue
        tried.add(n)
        try:
            return n, ask(n)
        except EndpointRejected as exc:
            hinted = _cap_from_message(str(exc))
            if hinted is not None and hinted < n and hinted not in tried:
                candidates.insert(0, hinted)
    return 0, None


def _top_k_cap(endpoint: OpenAIEndpoint, prompt: str, vocab: int, notes: list[str]):
    """Largest accepted ``logprobs`` and the answer to it: ask for everything, then step down."""
    k, answer = _largest_accepted([vocab, 100, 20, 10, 5, 2, 1], vocab,
                                  lambda n: endpoint.request(prompt, logprobs=n))
    if answer is None:
        return 0, None
    returned = len((_logprobs_block(answer) or {}).get("top_logprobs", [None])[-1] or {})
    if returned < k:
        notes.append(f"asked for {k} log-probs, got {returned}: a silent cap")
    if k == vocab and returned == vocab and max((i for i, _ in id_text_pairs(answer)), default=0) >= vocab:
        # ids beyond the owner's vocabulary (tokens appended to it): ask for more, so that every
        # one of the owner's tokens is among the answer's
        try:
            wider = endpoint.request(prompt, logprobs=2 * vocab)
        except EndpointRejected:
            return k, answer
        more = len((_logprobs_block(wider) or {}).get("top_logprobs", [None])[-1] or {})
        if more > vocab:
            notes.append(f"its vocabulary is larger than the owner's: {more} tokens, {more - vocab} beyond the "
                         f"owner's {vocab} (ignored)")
            return more, wider
    return min(k, returned), answer


def _decimals(answer: dict[str, Any]) -> int | None:
    """Smallest number of decimals every returned log-prob is a multiple of (None: unrounded)."""
    block = _logprobs_block(answer) or {}
    values = [v for v in ((block.get("top_logprobs") or [None])[-1] or {}).values() if v is not None]
    if not values:
        return None
    for d in range(0, 9):
        scaled = np.asarray(values) * 10.0 ** d
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-4):  # in units of the last decimal
            return d
    return None


def _bias_effect(endpoint: OpenAIEndpoint, prompt: str, greedy: int | None, k: int, notes: list[str]):
    """Bias a runner-up past the greedy token; see what is generated and what log-probs come back."""
    target, before, bias = None, -math.inf, 100.0
    if k >= 2:
        top = endpoint.position(endpoint.request(prompt, logprobs=k))
        ids = [int(t) for t in top.token_ids]
        target = next((t for t in ids if t != greedy), None)
        if target is not None:
            before = float(top.logprobs[ids.index(target)])
            bias = min(100.0, float(top.logprobs[0]) - before + _BIAS_MARGIN)
    if target is None:  # top-1 or no log-probs: any other token, biased to the limit
        target = 3 if greedy != 3 else 4
    try:
        answer = endpoint.request(prompt, logprobs=k if k else None, logit_bias={target: bias})
    except EndpointRejected as exc:
        notes.append(f"logit_bias refused: {exc}")
        return False, False, False, 0.0
    changes = endpoint.generated_id(answer) == target
    if not changes:
        notes.append("logit_bias accepted but the greedy token did not change: it is ignored")
    shifts = False
    if k >= 1:
        after = endpoint.position(answer)
        ids = [int(t) for t in after.token_ids]
        # biased log-probs raise the target by about the bias (less the normaliser); unbiased ones
        # leave it where it was (or out of the top-k)
        shifts = target in ids and float(after.logprobs[ids.index(target)]) > before + 0.5 * min(bias, 1.0)
        if changes and not shifts:
            notes.append("logit_bias changes the generated token but not the returned log-probs")
    return True, changes, shifts, 100.0


def _biased_token_cap(endpoint: OpenAIEndpoint, prompt: str, vocab: int, notes: list[str]) -> int | None:
    """Largest number of tokens one ``logit_bias`` may name (None: the whole vocabulary)."""
    n, _ = _largest_accepted(
        [vocab, 1000, 300, 100, 50, 20, 10, 5, 2, 1], vocab,
        lambda n: endpoint.request(prompt, logprobs=None, logit_bias={t: 0.0 for t in range(n)} | {0: 1e-3}))
    if 0 < n < vocab:
        notes.append(f"logit_bias may name at most {n} tokens per request")
    return None if n >= vocab else n


def _echo_works(endpoint: OpenAIEndpoint, prompt: str, notes: list[str]) -> bool:
    """Echo scores prompt tokens, and accepts the prompt as token ids (the echo strategy appends one)."""
    try:
        answer = endpoint.request(prompt, logprobs=1, echo=True)
    except EndpointRejected as exc:
        notes.append(f"echo refused: {exc}")
        return False
    block = _logprobs_block(answer) or {}
    if not [v for v in (block.get("token_logprobs") or [])[:-1] if v is not None]:
        notes.append("echo accepted but no prompt log-probs came back")
        return False
    n_prompt = (answer.get("usage") or {}).get("prompt_tokens") or len(block.get("tokens") or []) - 1
    read = [endpoint.token_id(t) for t in (block.get("tokens") or [])[:n_prompt]]
    ids = [t for t in read if t is not None]
    if not ids or len(ids) < len(read):
        notes.append("echo works, but the prompt's token ids cannot be read back")
        return False
    try:
        # llama-cpp-python's server answers a token-id prompt with a 500 (its validation error),
        # every time: two failures in a row are taken as a refusal, not retried for minutes
        appended = endpoint.request([*ids, ids[-1]], logprobs=1, echo=True, max_retries=1)
    except (EndpointRejected, EndpointUnavailable) as exc:
        notes.append(f"echo works, but prompts given as token ids are refused: {exc}")
        return False
    values = (_logprobs_block(appended) or {}).get("token_logprobs") or []
    return len(values) > len(ids) and values[len(ids)] is not None


def with_strategy(result: ProbeResult, strategy: str, reason: str, table: dict[str, Any]) -> ProbeResult:
    return replace(result, strategy=strategy, strategy_reason=reason, strategies=table)
