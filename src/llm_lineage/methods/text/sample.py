"""What a model writes: sampled continuations of a fixed, versioned prompt set.

A :class:`TextSample` is the text method's fingerprint of a model, local or behind an API: for
each prompt of the set and each temperature, one continuation of ``max_tokens`` tokens, with the
decoding parameters that produced it (temperature, seed, which API). Locally the model samples
with ``transformers``' ``generate`` (seeded per completion, so the same model gives the same
sample); an endpoint is sampled through :meth:`OpenAIEndpoint.sample`, every answer durably
cached and counted like any paid query.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...corpus import PROMPTS
from ...errors import InputError, UnsupportedFormat, VocabularyMismatch

PROMPT_SET = "llm-lineage-text/1"
_LOCAL = {"where": "local", "sampler": "transformers generate, seeded per batch, text/2", "top_k": 0, "top_p": 1.0}
BATCH = 50  # completions generated at once locally
# stories and manuals interleaved, so that any prefix of the set has both domains
_PROMPTS_V1: tuple[str, ...] = tuple(PROMPTS[::3])


def prompt_set(n_prompts: int) -> tuple[str, ...]:
    if not 1 <= n_prompts <= len(_PROMPTS_V1):
        raise InputError(f"the text prompt set {PROMPT_SET} has {len(_PROMPTS_V1)} prompts; asked for {n_prompts}")
    return _PROMPTS_V1[:n_prompts]


@dataclass(frozen=True)
class SamplingPlan:
    """Which completions to ask for: every prompt at every temperature, one seed each."""

    prompts: tuple[str, ...]
    temperatures: tuple[float, ...]
    max_tokens: int
    seed: int = 0
    api: str = "completions"   # "chat": each prompt is one user message through the chat template
    name: str = PROMPT_SET     # the versioned prompt set the prompts come from

    def calls(self) -> list[tuple[int, float, int]]:
        """(prompt index, temperature, seed) of each completion, in a fixed order."""
        return [(i, t, self.seed * 1_000_003 + n)
                for n, (t, i) in enumerate((t, i) for t in self.temperatures for i in range(len(self.prompts)))]

    def digest(self) -> str:
        return hashlib.sha256(json.dumps([_LOCAL["sampler"], self.prompts, self.temperatures, self.max_tokens,
                                          self.seed, self.api, self.name]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TextSample:
    """One model's continuations. ``model`` is a path (local) or ``model@url`` (endpoint);
    ``identity`` pins a local model's files (``stats.nulls.model_identity``), empty for an API."""

    model: str
    identity: str
    api: str                   # "completions" (a raw continuation) or "chat" (through the chat template)
    prompt_set: str
    prompts: tuple[str, ...]
    prompt_index: np.ndarray   # (n,) int64: which prompt each completion continues
    temperatures: np.ndarray   # (n,) float64
    seeds: np.ndarray          # (n,) int64
    completions: tuple[str, ...]
    max_tokens: int
    n_queries: int = 0         # endpoint answers it rests on (paid or read back from the cache)
    decoding: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:  # JSON gives lists back; keep the declared tuples
        object.__setattr__(self, "prompts", tuple(self.prompts))
        object.__setattr__(self, "completions", tuple(self.completions))

    def pairs(self) -> list[tuple[str, str]]:
        """(prompt, completion) of each completion."""
        return [(self.prompts[int(i)], c) for i, c in zip(self.prompt_index, self.completions, strict=True)]


def _arrays(plan: SamplingPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    calls = plan.calls()
    return (np.array([c[0] for c in calls], dtype=np.int64), np.array([c[1] for c in calls], dtype=np.float64),
            np.array([c[2] for c in calls], dtype=np.int64))


def sample_local(model_dir: str | Path, plan: SamplingPlan) -> TextSample:
    """Sample ``plan`` from a local model directory (cached on disk by model files and plan)."""
    from ...paths import cache_root
    from ...stats.nulls import model_identity

    model_dir = Path(model_dir)
    if not (model_dir.is_dir() and (model_dir / "config.json").is_file()):
        raise UnsupportedFormat(f"{model_dir}: the text method samples from a transformers model directory "
                                "(config.json, weights, tokenizer)")
    identity = model_identity(model_dir)
    cached = cache_root() / "text-samples" / f"{identity}-{plan.digest()}.json"
    index, temperatures, seeds = _arrays(plan)
    if cached.is_file():
        try:
            completions = json.loads(cached.read_text())
            if isinstance(completions, list) and len(completions) == len(index):
                return TextSample(str(model_dir), identity, plan.api, plan.name, plan.prompts, index,
                                  temperatures, seeds, tuple(completions), plan.max_tokens, decoding=_LOCAL)
        except (OSError, ValueError):
            pass  # a torn write: sample again
    completions = _generate(model_dir, plan)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(completions))
    tmp.replace(cached)
    return TextSample(str(model_dir), identity, plan.api, plan.name, plan.prompts, index, temperatures, seeds,
                      tuple(completions), plan.max_tokens, decoding=_LOCAL)


def _generate(model_dir: Path, plan: SamplingPlan) -> list[str]:
    """Completions in batches of one temperature (left-padded), each batch seeded from the plan's
    seed and its position, so the same model and plan give the same text."""
    import torch
    from transformers import AutoTokenizer

    from ...outputs.chat import chat_prompt_ids, continuation_text
    from ...progress import track
    from ...weights.hf_model import load_model

    model = load_model(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = model.get_input_embeddings().num_embeddings
    # the pad id must be one the embedding holds, though padded positions are masked: Qwen2-style
    # tokenizers pad with an added token (<|endoftext|>) past the embedding of a small model
    pad = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if t is not None and t < rows), 0)
    calls = plan.calls()
    # the prompt's end is kept when prompt and completion would not fit the context (learned positions)
    keep = max(1, int(getattr(model.config, "max_position_embeddings", None) or 2048) - plan.max_tokens)
    prompts = [chat_prompt_ids(tokenizer, [{"role": "user", "content": plan.prompts[i]}]) if plan.api == "chat"
               else list(tokenizer(plan.prompts[i])["input_ids"]) for i, _, _ in calls]
    prompts = [ids[-keep:] for ids in prompts]
    beyond = sorted({t for ids in prompts for t in ids if t >= rows})
    if beyond:
        raise VocabularyMismatch(f"{model_dir.name}'s tokenizer gives token id {beyond[0]} for the prompts, but its "
                                 f"embedding holds {rows} rows: it cannot read them",
                                 hint="a reference needs a tokenizer that matches its own embedding")
    batches = [list(range(first, min(first + BATCH, len(calls)))) for first in range(0, len(calls), BATCH)]
    # a batch holds one temperature: cut where it changes
    batches = [[i for i in batch if calls[i][1] == t] for batch in batches for t in dict.fromkeys(calls[j][1] for j in batch)]
    out: list[str] = [""] * len(calls)
    with torch.inference_mode():
        for number, batch in enumerate(track(batches, f"sampling {model_dir.name}")):
            width = max(len(prompts[i]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
                mask[row, width - len(prompts[i]):] = 1
            temperature = calls[batch[0]][1]
            torch.manual_seed(plan.seed * 1_000_003 + number)
            generated = model.generate(ids, attention_mask=mask, max_new_tokens=plan.max_tokens,
                                       min_new_tokens=plan.max_tokens, do_sample=temperature > 0,
                                       temperature=temperature if temperature > 0 else None, top_k=0, top_p=1.0,
                                       pad_token_id=pad, eos_token_id=None)
            for row, i in enumerate(batch):
                out[i] = continuation_text(tokenizer, prompts[i], generated[row, width:].tolist())
    return out


def sample_endpoint(endpoint: Any, plan: SamplingPlan) -> TextSample:
    """Sample ``plan`` from an :class:`OpenAIEndpoint` through ``plan.api`` (completions or chat)."""
    from ...progress import track

    index, temperatures, seeds = _arrays(plan)
    calls = [{"prompt": plan.prompts[i], "api": plan.api, "max_tokens": plan.max_tokens, "temperature": t, "seed": s}
             for i, t, s in plan.calls()]
    start = endpoint.n_queries
    completions: list[str] = []
    batch = max(1, endpoint.concurrency) * 4
    for first in track(range(0, len(calls), batch), f"sampling {endpoint.model}"):
        completions += endpoint.request_many(calls[first:first + batch], method="sample")
    return TextSample(endpoint.name, "", plan.api, plan.name, plan.prompts, index, temperatures, seeds,
                      tuple(completions), plan.max_tokens, n_queries=endpoint.n_queries - start,
                      decoding={"where": "endpoint", "top_p": 1.0, **endpoint.extra_body})
