"""The prompt a chat API builds from messages: the tokenizer's chat template, or a plain fallback.

``llm-lineage serve`` answers ``/v1/chat/completions`` with it, and the text method samples
reference models through it when the suspect was sampled through a chat API, so that the
suspect and the models it is compared with answer the same kind of prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def chat_prompt_ids(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """Token ids of ``messages`` with the assistant's turn opened: the tokenizer's chat template,
    or, for a tokenizer without one (base models), ``role: content`` lines and ``assistant:``."""
    if getattr(tokenizer, "chat_template", None):
        ids: Any = tokenizer.apply_chat_template([dict(m) for m in messages], add_generation_prompt=True,
                                                 tokenize=True)
        if isinstance(ids, Mapping):  # newer transformers return a BatchEncoding
            ids = ids["input_ids"]
        return [int(t) for t in ids]
    text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
    return [int(t) for t in tokenizer(text)["input_ids"]]
