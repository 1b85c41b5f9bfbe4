"""Full fine-tuning and continued pre-training on a corpus the victim was not trained on."""

from __future__ import annotations

from .. import corpus, zoo
from ..training import train_causal_lm
from .registry import attack


@attack("finetune")
def finetune(model, *, steps: int = 100, lr: float = 1e-3, seed: int = 0, domain: str = "manuals",
             progress: bool = False):
    train_causal_lm(model, zoo.tokenizer(), corpus.generate(domain, seed=seed), steps=steps, lr=lr,
                    seed=seed, progress=progress, description="fine-tuning")
    return model
