"""How well a model explains a text: log-likelihood of each completion given its prompt, per byte.

Each model reads the text with its own tokenizer (the prompt's tokens, then the completion's), so
models of any two tokenizers are compared on the same bytes: log-likelihood divided by the
completion's UTF-8 length. Scores are cached on disk by (model files, texts): the null scores
every reference's sample under every other model, and a rerun pays for none of it again.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BATCH = 16


def per_byte_loglik(model_dir: str | Path, pairs: Sequence[tuple[str, str]], api: str = "completions") -> np.ndarray:
    """log p(completion | prompt) / bytes(completion) for each (prompt, completion); NaN for an
    empty completion. With ``api="chat"`` the prompt is read as the model's chat template makes it
    (one user message), as a chat API wrote the completion after it."""
    from ...paths import cache_root
    from ...stats.nulls import model_identity

    model_dir = Path(model_dir)
    digest = hashlib.sha256(json.dumps([api, *pairs]).encode()).hexdigest()[:16]
    cached = cache_root() / "text-scores" / f"{model_identity(model_dir)}-{digest}.npy"
    if cached.is_file():
        try:
            values = np.load(cached, allow_pickle=False)
            if values.shape == (len(pairs),):
                return values
        except (OSError, ValueError):
            pass  # a torn write: score again
    values = _score(model_dir, pairs, api)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npy")
    np.save(tmp, values, allow_pickle=False)
    tmp.replace(cached)
    return values


def _score(model_dir: Path, pairs: Sequence[tuple[str, str]], api: str) -> np.ndarray:
    import torch
    from transformers import AutoTokenizer

    from ...outputs.chat import chat_prompt_ids
    from ...weights.hf_model import load_model

    model = load_model(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    context = int(getattr(model.config, "max_position_embeddings", None) or 2048)
    rows = []
    for prompt, completion in pairs:
        p = (chat_prompt_ids(tokenizer, [{"role": "user", "content": prompt}]) if api == "chat"
             else list(tokenizer(prompt)["input_ids"]))
        c = list(tokenizer(completion, add_special_tokens=False)["input_ids"]) if completion else []
        keep = max(1, context - len(c))
        rows.append((p[-keep:], c[:context - 1]))
    out = np.full(len(pairs), np.nan)
    with torch.inference_mode():
        for first in range(0, len(rows), BATCH):
            chunk = rows[first:first + BATCH]
            width = max(len(p) + len(c) for p, c in chunk)
            ids = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, (p, c) in enumerate(chunk):
                ids[r, :len(p) + len(c)] = torch.tensor(p + c)
                mask[r, :len(p) + len(c)] = 1
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            for r, (p, c) in enumerate(chunk):
                if not c:
                    continue
                positions = torch.arange(len(p) - 1, len(p) + len(c) - 1)
                total = float(logp[r, positions, torch.tensor(c)].sum())
                n_bytes = len(pairs[first + r][1].encode())
                out[first + r] = total / n_bytes if n_bytes else math.nan
    return out


def zlib_per_byte(pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """minus the bits zlib adds to the prompt to store the completion, in nats per byte: a
    reference-free estimate of how predictable a text is (Carlini et al. 2021's zlib ratio)."""
    out = np.full(len(pairs), np.nan)
    for i, (prompt, completion) in enumerate(pairs):
        n_bytes = len(completion.encode())
        if n_bytes:
            extra = len(zlib.compress((prompt + completion).encode(), 9)) - len(zlib.compress(prompt.encode(), 9))
            out[i] = -8 * math.log(2) * extra / n_bytes
    return out
