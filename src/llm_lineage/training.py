"""A small causal-LM training loop shared by the zoo and the training attacks.

Plain PyTorch on packed token windows: enough to move a zoo model well away from its
initialisation in seconds on a CPU, and the same code runs on a GPU for larger models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import torch

from . import progress as _progress


def token_stream(tokenizer, texts: Sequence[str]) -> torch.Tensor:
    ids: list[int] = []
    sep = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        ids.append(sep)
    return torch.tensor(ids, dtype=torch.long)


def train_causal_lm(model, tokenizer, texts: Sequence[str], *, steps: int, lr: float = 3e-3,
                    batch_size: int = 16, seq_len: int = 64, seed: int = 0,
                    parameters=None, progress: bool = False, description: str = "training",
                    optimizer: Callable[[list[Any]], Any] | None = None,
                    loss_of: Callable[[Any, torch.Tensor], torch.Tensor] | None = None) -> list[float]:
    """Train ``model`` in place for ``steps`` AdamW steps; returns the loss curve.

    ``parameters`` restricts what is trained (LoRA adapters, one layer); default: everything
    that requires grad; ``optimizer`` builds the optimizer from the parameters (default AdamW);
    ``loss_of(model, batch)`` replaces next-token cross-entropy (a distillation loss).
    Windows are drawn with a generator seeded by ``seed`` so that two runs
    with the same seed see the same data in the same order.
    """
    if steps <= 0:
        return []
    device = next(model.parameters()).device
    stream = token_stream(tokenizer, texts)
    seq_len = min(seq_len, len(stream) - 1, getattr(model.config, "max_position_embeddings", seq_len) or seq_len)
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in (parameters if parameters is not None else model.parameters()) if p.requires_grad]
    opt = optimizer(params) if optimizer is not None else torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)))
    model.train()
    losses: list[float] = []
    with _progress.progress(description, total=steps) if progress else nullcontext() as bar:
        for _ in range(steps):
            starts = torch.randint(0, len(stream) - seq_len - 1, (batch_size,), generator=gen)
            batch = torch.stack([stream[s: s + seq_len] for s in starts]).to(device)
            loss = loss_of(model, batch) if loss_of is not None else model(input_ids=batch, labels=batch).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if bar is not None:
                bar.advance()
    model.eval()
    return losses
