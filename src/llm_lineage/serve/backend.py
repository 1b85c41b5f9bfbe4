"""The model behind ``llm-lineage serve``: tokenise, run a local checkpoint, decode with a bias.

Owns the numbers a completions endpoint returns (next-token logits, greedy tokens under
``logit_bias``); the HTTP shape of the answer, provider imitations and fault injection live in
``serve/app.py``. Logits of recent prompts are memoised, because the query strategies ask about
the same prompt many times with different biases and the forward pass is the server's only real
cost.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelNotFound


@dataclass(frozen=True)
class Step:
    """One generated position: the greedy token and the (unbiased and biased) log-probs it came from."""

    token_id: int
    logprobs: np.ndarray         # (vocab_size,) log_softmax(logits)
    biased_logprobs: np.ndarray  # (vocab_size,) log_softmax(logits + logit_bias)


class LocalBackend:
    """A causal LM directory (config.json, safetensors, tokenizer) on CPU, float32."""

    def __init__(self, model_dir: str | Path, *, memo_size: int = 256) -> None:
        import torch
        from transformers import AutoTokenizer

        from .. import zoo

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise ModelNotFound(f"{model_dir} is not a model directory (no config.json)")
        if not any(model_dir.glob("tokenizer*.json")):
            raise ModelNotFound(f"{model_dir} has no tokenizer; the server needs one to read text prompts")
        torch.set_num_threads(1)  # a tiny model: one thread leaves the other cores to the client
        self._torch = torch
        self.model = zoo.load(model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.name = model_dir.name
        self.vocab_size = int(self.model.config.vocab_size)
        self.context = int(getattr(self.model.config, "max_position_embeddings", None) or 2048)
        self._pieces = [self.tokenizer.decode([i]) for i in range(self.vocab_size)]
        self._memo: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._memo_size = memo_size
        self._lock = threading.Lock()
        self.forward_passes = 0

    # --- text <-> ids --------------------------------------------------------------------------

    def encode(self, prompt: str | Sequence[int]) -> list[int]:
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt)["input_ids"])
        return [int(t) for t in prompt]

    def decode(self, ids: Sequence[int], *, after: Sequence[int] = ()) -> str:
        """Generated text as it continues ``after`` (``outputs.chat.continuation_text``)."""
        from ..outputs.chat import continuation_text

        return continuation_text(self.tokenizer, after, ids)

    def piece(self, token_id: int) -> str:
        return str(self._pieces[token_id]) if 0 <= token_id < self.vocab_size else ""

    # --- the model -----------------------------------------------------------------------------

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Next-token logits after ``ids``, shape (vocab_size,), float64 (memoised)."""
        key = tuple(ids)
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                return hit
            with self._torch.inference_mode():
                out = self.model(input_ids=self._torch.tensor([list(key)], dtype=self._torch.long))
            row = out.logits[0, -1].double().numpy()
            self.forward_passes += 1
            self._memo[key] = row
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
            return row

    def prompt_logprobs(self, ids: Sequence[int]) -> list[np.ndarray]:
        """Log-prob vectors predicting ids[1:], one per position (for ``echo``)."""
        return [_log_softmax(self.logits(ids[:i])) for i in range(1, len(ids))]

    def generate(self, ids: Sequence[int], *, max_tokens: int, logit_bias: Mapping[int, float],
                 temperature: float = 0.0, seed: int | None = None) -> list[Step]:
        """Decoding of logits + logit_bias: greedy (argmax) at temperature 0, else sampled from
        softmax(biased / temperature) with a generator seeded by ``seed`` (fresh entropy if None)."""
        bias = np.zeros(self.vocab_size)
        for token_id, value in logit_bias.items():
            bias[token_id] = value
        rng = np.random.default_rng(seed)
        steps: list[Step] = []
        ids = list(ids)
        for _ in range(max_tokens):
            logits = self.logits(ids)
            biased = logits + bias
            if temperature > 0:
                p = np.exp(_log_softmax(biased / temperature))
                token = int(rng.choice(self.vocab_size, p=p / p.sum()))
            else:
                token = int(np.argmax(biased))
            steps.append(Step(token, _log_softmax(logits), _log_softmax(biased)))
            ids.append(token)
        return steps

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """The prompt of a chat (``outputs.chat.chat_prompt_ids``)."""
        from ..outputs.chat import chat_prompt_ids

        return chat_prompt_ids(self.tokenizer, messages)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = float(np.max(x))
    return x - (m + float(np.log(np.sum(np.exp(x - m)))))
