"""Continued pre-training on a different corpus (``continue-pretrain``) and the ``unrelated`` control.

``continue-pretrain`` differs from ``finetune`` in scale: pre-training learning rate, more steps,
mostly new-domain text with a little replay of the old domain so the model is not wrecked.
``unrelated`` is what every method must *not* call derived: the victim's architecture (its
config), trained from a fresh seeded initialisation on the same data with the same recipe as the
zoo, so it equals ``zoo.build(arch, seed=seed, train_steps=steps)`` for a zoo victim.
"""

from __future__ import annotations

import torch

from .. import corpus
from ..errors import InputError
from ..training import train_causal_lm
from .registry import attack, victim_tokenizer


@attack("continue-pretrain")
def continue_pretrain(model, *, steps: int = 300, lr: float = 3e-3, seed: int = 0, domain: str = "manuals",
                      replay: float = 0.1, replay_domain: str = "stories", progress: bool = False):
    """Train all weights for ``steps`` steps on ``domain`` text mixed with a ``replay`` share of the old domain."""
    if not 0.0 <= replay < 1.0:
        raise InputError(f"replay must be in [0, 1), got {replay}")
    new = corpus.generate(domain, seed=seed)
    old = corpus.generate(replay_domain, seed=seed + 1)[: int(len(new) * replay / (1 - replay))]
    texts = [doc for pair in zip(new, old, strict=False) for doc in pair] + list(new[len(old):])  # interleaved
    train_causal_lm(model, victim_tokenizer(), texts, steps=steps, lr=lr, seed=seed, progress=progress,
                    description="continued pre-training")
    return model


@attack("unrelated")
def unrelated(model, *, seed: int = 1, steps: int = 300, domain: str = "stories", progress: bool = False):
    """A fresh model of the victim's architecture: new seeded initialisation, trained on the same data."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)  # the same seeding as zoo.build_model, so zoo victims get zoo controls
    fresh = AutoModelForCausalLM.from_config(model.config, dtype=model.dtype)
    fresh.eval()
    train_causal_lm(fresh, victim_tokenizer(), corpus.generate(domain), steps=steps, seed=seed,
                    progress=progress, description=f"training an unrelated model (seed {seed})")
    return fresh
