"""LoRA fine-tuning, merged back into the weights: on attention q/k/v (``lora-qkv``) or on lm_head
(``lora-head``).

A thief adapts the victim with peft LoRA adapters, trains them briefly on another corpus, and
ships the merged model, in which every adapted matrix is ``W + (alpha / r) B A`` with rank r.
:func:`lora_merge` is the reusable step (another attack builds quantised LoRA on it);
:func:`untie_lm_head` gives a tied model its own lm_head first, since adapting a tied head would
otherwise change the input embedding too (and peft refuses to merge into a shared weight).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .. import corpus
from ..training import train_causal_lm
from .registry import attack, victim_tokenizer

# module-name suffixes of the attention input projections, by the families the zoo covers
_QKV_NAMES = (("q_proj", "k_proj", "v_proj"), ("query_key_value",), ("c_attn",), ("Wqkv",), ("qkv_proj",))


def untie_lm_head(model) -> None:
    """Give a model with tied embeddings its own lm_head (a copy), and record it in the config."""
    head = model.get_output_embeddings()
    embed = model.get_input_embeddings()
    if head is None or head.weight.data_ptr() != embed.weight.data_ptr():
        model.config.tie_word_embeddings = False
        return
    head.weight = torch.nn.Parameter(embed.weight.detach().clone())
    model.config.tie_word_embeddings = False
    if hasattr(model, "_tied_weights_keys"):
        model._tied_weights_keys = None


def attention_targets(model) -> list[str]:
    """Names (suffixes) of the attention q/k/v projections of this model, found by module name."""
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    for group in _QKV_NAMES:
        if set(group) <= names:
            return list(group)
    raise ValueError(f"no attention q/k/v projections found among {sorted(names)}")


def head_targets(model) -> list[str]:
    head = model.get_output_embeddings()
    for name, module in model.named_modules():
        if module is head:
            return [name]
    raise ValueError("the model has no output embedding (lm_head)")


def _trained(model, targets: Sequence[str], *, rank: int, alpha: float | None, dropout: float, init,
             steps: int, lr: float, seed: int, domain: str, tokenizer, batch_size: int, seq_len: int,
             progress: bool, description: str, before_training=None):
    """``model`` with LoRA adapters of ``rank`` on ``targets``, trained ``steps`` steps (a peft model)."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else 2 * rank, lora_dropout=dropout,
                        target_modules=list(targets), bias="none", init_lora_weights=init)
    peft_model = get_peft_model(model, config)
    if before_training is not None:
        before_training(peft_model)
    train_causal_lm(peft_model, tokenizer or victim_tokenizer(), corpus.generate(domain, seed=seed), steps=steps,
                    lr=lr, batch_size=batch_size, seq_len=seq_len, seed=seed, progress=progress,
                    description=description)
    return peft_model


def lora_merge(model, targets: Sequence[str], *, rank: int = 8, alpha: float | None = None, steps: int = 60,
               lr: float = 2e-3, seed: int = 0, domain: str = "manuals", dropout: float = 0.0,
               batch_size: int = 16, seq_len: int = 64, progress: bool = False, before_training=None):
    """Attach LoRA adapters of ``rank`` to ``targets``, train them for ``steps``, merge; returns the model.

    ``before_training(peft_model)`` runs after the adapters are attached (a quantising attack
    rounds the frozen base weights there). ``alpha`` defaults to ``2 * rank``.
    """
    peft_model = _trained(model, targets, rank=rank, alpha=alpha, dropout=dropout, init="gaussian", steps=steps,
                          lr=lr, seed=seed, domain=domain, tokenizer=None, batch_size=batch_size, seq_len=seq_len,
                          progress=progress, description=f"LoRA r={rank} on {','.join(targets)}",
                          before_training=before_training)
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged


def train_adapter(base, out, *, targets: Sequence[str] | None = None, rank: int = 8, steps: int = 60,
                  lr: float = 2e-3, seed: int = 0, domain: str = "manuals", tokenizer=None,
                  batch_size: int = 16, seq_len: int = 64):
    """Train a LoRA adapter of ``rank`` on ``base`` (a model folder) and save it unmerged, as peft
    ships one (``adapter_config.json`` + ``adapter_model.safetensors``), with peft's default
    initialisation; returns ``out``. ``targets`` default to the attention q/k/v; ``tokenizer`` to the zoo's."""
    from pathlib import Path

    from ..weights.hf_model import load_model

    model = load_model(base)
    peft_model = _trained(model, targets or attention_targets(model), rank=rank, alpha=None, dropout=0.0, init=True,
                          steps=steps, lr=lr, seed=seed, domain=domain, tokenizer=tokenizer, batch_size=batch_size,
                          seq_len=seq_len, progress=False, description=f"LoRA adapter r={rank} on {Path(base).name}")
    peft_model.save_pretrained(out)
    return Path(out)


@attack("lora-qkv")
def lora_qkv(model, *, rank: int = 8, steps: int = 60, lr: float = 2e-3, seed: int = 0, domain: str = "manuals",
             batch_size: int = 16, seq_len: int = 64, progress: bool = False):
    return lora_merge(model, attention_targets(model), rank=rank, steps=steps, lr=lr, seed=seed, domain=domain,
                      batch_size=batch_size, seq_len=seq_len, progress=progress)


@attack("lora-head")
def lora_head(model, *, rank: int = 8, steps: int = 60, lr: float = 2e-3, seed: int = 0, domain: str = "manuals",
              batch_size: int = 16, seq_len: int = 64, progress: bool = False):
    untie_lm_head(model)
    return lora_merge(model, head_targets(model), rank=rank, steps=steps, lr=lr, seed=seed, domain=domain,
                      batch_size=batch_size, seq_len=seq_len, progress=progress)
