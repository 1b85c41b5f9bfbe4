"""Where an attack finds a model's blocks: the llama-style decoder and GPT-2, by module layout.

Attacks edit loaded ``transformers`` models in place. Rather than dispatching on model names,
they ask this module for the pieces they need (embedding, per-layer projections, norms,
``lm_head``) and get an :class:`~llm_lineage.errors.UnsupportedFormat` naming the attack and the
``model_type`` when the layout is not one they know how to transform.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..errors import UnsupportedFormat

# decoders with pre-RMSNorm blocks q/k/v/o + gate/up/down (qwen2 adds q/k/v biases, qwen3 per-head q/k norms)
LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3")
GPT2_LIKE = ("gpt2",)


def model_type(model) -> str:
    return str(getattr(model.config, "model_type", type(model).__name__))


def require(model, attack: str, supported: tuple[str, ...]) -> str:
    kind = model_type(model)
    if kind not in supported:
        raise UnsupportedFormat(f"attack {attack!r} knows how to transform {', '.join(supported)} models, "
                                f"not {kind!r}")
    return kind


def head_dim(model) -> int:
    cfg = model.config
    return int(getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)


def kv_heads(model) -> int:
    cfg = model.config
    return int(getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads)


def decoder_layers(model) -> nn.ModuleList:
    if model_type(model) in GPT2_LIKE:
        return model.transformer.h
    return model.model.layers


def untie(model) -> None:
    """Give ``lm_head`` its own copy of the embedding so the two can be changed independently."""
    head = model.get_output_embeddings()
    embed = model.get_input_embeddings()
    if head is not None and head.weight.data_ptr() == embed.weight.data_ptr():
        head.weight = nn.Parameter(embed.weight.detach().clone())
    model.config.tie_word_embeddings = False
    if hasattr(model.config, "get_text_config"):
        model.config.get_text_config().tie_word_embeddings = False


def linear_weights(model, *, include_embeddings: bool = False,
                   include_head: bool = False) -> Iterator[tuple[str, torch.Tensor, bool]]:
    """``(name, weight, transposed)`` for every matrix in the decoder blocks.

    ``transposed`` is True for GPT-2's ``Conv1D`` whose weight is stored (in, out); callers that
    group along the input dimension use it to pick the axis.
    """
    from transformers.pytorch_utils import Conv1D

    for name, module in decoder_layers(model).named_modules():
        if isinstance(module, nn.Linear):
            yield f"layers.{name}", module.weight, False
        elif isinstance(module, Conv1D):
            yield f"layers.{name}", module.weight, True
    if include_embeddings:
        yield "embed_tokens", model.get_input_embeddings().weight, False
    if include_head:
        head = model.get_output_embeddings()
        if head is not None and head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
            yield "lm_head", head.weight, False


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))
