"""The prompt a chat API builds from messages (the tokenizer's chat template, or a plain fallback),
and the text of generated tokens as it continues a prompt.

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


def continuation_text(tokenizer: Any, prompt_ids: Sequence[int], new_ids: Sequence[int]) -> str:
    """The text ``new_ids`` add after ``prompt_ids``: decoded together and cut after the prompt's
    text, because SentencePiece tokenizers drop a leading space when tokens are decoded alone."""
    def text(ids: Sequence[int]) -> str:
        return str(tokenizer.decode([int(i) for i in ids], skip_special_tokens=True))

    head, whole = text(prompt_ids), text([*prompt_ids, *new_ids])
    return whole[len(head):] if prompt_ids and whole.startswith(head) else text(new_ids)
