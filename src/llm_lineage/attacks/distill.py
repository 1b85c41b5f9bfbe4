"""Distillation: a student that takes the victim's behaviour and none of its weights.

``distill`` initialises a model of the victim's architecture and tokenizer afresh (seeded, as
``unrelated`` does) and trains it only on what the victim says:

- ``top_k=0`` (default): on ``samples`` continuations the victim sampled at ``temperature`` from
  seeded corpus prompts (sequence-level knowledge distillation: Kim & Rush, EMNLP 2016), the way
  a thief distils a text-only API;
- ``top_k=K``: on the victim's top-K next-token distribution at every position of those texts,
  renormalised, by cross-entropy against it (word-level distillation: Hinton et al., 2015), the way
  a thief distils an API that returns log-probs.

No weight is copied, so every white-box method is expected to say the student is not derived
(and is right to); whether the behaviour shows is for the output-side methods (``text``, and the
subspace test, which cannot see it: a fresh lm_head spans another space). ``benchmarks/
distillation.py`` measures both.
"""

from __future__ import annotations

import torch

from .. import corpus
from ..errors import InputError
from ..training import train_causal_lm
from .registry import attack, victim_tokenizer


@attack("distill")
def distill(model, *, samples: int = 512, max_new_tokens: int = 48, temperature: float = 1.0, top_k: int = 0,
            steps: int = 300, lr: float = 3e-3, seed: int = 11, domain: str = "stories", progress: bool = False):
    """A fresh student trained on the victim's sampled text (``top_k=0``) or its top-k distributions."""
    from transformers import AutoModelForCausalLM

    if samples < 1 or max_new_tokens < 1 or temperature <= 0 or top_k < 0:
        raise InputError("distill needs samples >= 1, max_new_tokens >= 1, temperature > 0 and top_k >= 0")
    tokenizer = victim_tokenizer()
    teacher = model.eval()
    texts = _sampled(teacher, tokenizer, samples, max_new_tokens, temperature, seed, domain)
    torch.manual_seed(seed)
    student = AutoModelForCausalLM.from_config(teacher.config, dtype=teacher.dtype)
    loss_of = None if top_k == 0 else _top_k_loss(teacher, top_k)
    train_causal_lm(student, tokenizer, texts, steps=steps, lr=lr, seed=seed, progress=progress, loss_of=loss_of,
                    description=f"distilling a student ({'top-' + str(top_k) if top_k else 'sampled text'})")
    return student


def _sampled(teacher, tokenizer, samples: int, max_new_tokens: int, temperature: float, seed: int,
             domain: str) -> list[str]:
    """The victim's continuations of the first words of seeded corpus documents (prompt included)."""
    prompts = [" ".join(doc.split()[:6]) for doc in corpus.generate(domain, n_docs=samples, seed=seed + 1000)]
    generator = torch.Generator().manual_seed(seed)
    texts = []
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
            for _ in range(max_new_tokens):  # sampled here, with our generator: reproducible
                logits = teacher(input_ids=ids).logits[0, -1].float() / temperature
                token = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
                ids = torch.cat([ids, token.view(1, 1)], dim=1)
                if int(token) == tokenizer.eos_token_id:
                    break
            texts.append(tokenizer.decode(ids[0], skip_special_tokens=True))
    return texts


def _top_k_loss(teacher, k: int):
    """Cross-entropy of the student against the teacher's renormalised top-k next-token distribution."""
    def loss_of(student, batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            values, ids = teacher(input_ids=batch).logits.float().topk(k, dim=-1)
            target = torch.softmax(values, dim=-1)
        log_q = torch.log_softmax(student(input_ids=batch).logits.float(), dim=-1)
        return -(target * log_q.gather(-1, ids)).sum(-1).mean()
    return loss_of
