r"""Quantisation round trips (``quantize``) and LQ-LoRA (``lq-lora``): what int8/int4 weights leave of a model.

``quantize`` stores each decoder-block matrix with ``bits`` per weight and reads it back as float,
the way a thief ships a GPTQ/bitsandbytes/llama.cpp copy. Symmetric round-to-nearest per group of
``group_size`` consecutive input weights (one row when ``group_size`` is None)::

    s = max |w_g| / q_max,   q = clamp(round(w / s), -q_max - 1, q_max),   w' = q s,
    q_max = 2^(bits - 1) - 1

Embeddings and ``lm_head`` are left in full precision by default, as most int8/int4 recipes do.

``lq-lora`` follows LQ-LoRA: ``W ~ Q + L1 L2`` with ``Q`` the quantised weight and the rank-r
correction ``L1 L2`` initialised from the SVD of the quantisation error ``W - Q`` (the best rank-r
fit), then trained as LoRA adapters on a corpus and merged.

References
----------
.. [1] H. Guo et al., "LQ-LoRA: Low-rank Plus Quantized Matrix Decomposition for Efficient
   Language Model Finetuning", ICLR 2024.
.. [2] T. Dettmers et al., "LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale", 2022.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from ._blocks import linear_weights
from .registry import attack


def quantize_dequantize(weight: torch.Tensor, bits: int = 8, group_size: int | None = None) -> torch.Tensor:
    """Round trip one matrix (out, in) through ``bits``-bit symmetric groups along the input dimension."""
    if not 2 <= int(bits) <= 16:
        raise InputError(f"bits must be between 2 and 16, got {bits}")
    out_features, in_features = weight.shape
    group = int(group_size or in_features)
    if group <= 0 or in_features % group:
        raise InputError(f"group_size {group_size} must divide the input dimension {in_features}")
    q_max = 2 ** (int(bits) - 1) - 1
    w = weight.double().reshape(out_features, in_features // group, group)
    step = w.abs().amax(dim=-1, keepdim=True) / q_max
    step = torch.where(step > 0, step, torch.ones_like(step))  # an all-zero group stays zero
    q = torch.clamp(torch.round(w / step), -q_max - 1, q_max)
    return (q * step).reshape(out_features, in_features).to(weight.dtype)


def _default_group(bits: int, group_size: int | None) -> int | None:
    # int8 per output channel is standard; below 8 bits groups of 32 keep the error tolerable
    return group_size if group_size is not None else (None if bits >= 8 else 32)


@attack("quantize")
@torch.no_grad()
def quantize(model, *, bits: int = 8, group_size: int | None = None, include_embeddings: bool = False,
             include_head: bool = False, progress: bool = False):
    """Quantise every decoder-block matrix (and optionally embeddings / ``lm_head``) and read it back."""
    group = _default_group(bits, group_size)
    for _, weight, transposed in linear_weights(model, include_embeddings=include_embeddings,
                                                include_head=include_head):
        w = weight.data.T if transposed else weight.data
        weight.data.copy_(quantize_dequantize(w, bits, group).T if transposed
                           else quantize_dequantize(w, bits, group))
    return model


@torch.no_grad()
def low_rank_error(weight: torch.Tensor, rank: int, bits: int, group_size: int | None) -> torch.Tensor:
    """``Q + L1 L2``: the quantised matrix plus the best rank-``rank`` fit of its error (SVD)."""
    quantized = quantize_dequantize(weight, bits, group_size).double()
    u, s, vh = torch.linalg.svd(weight.double() - quantized, full_matrices=False)
    correction = (u[:, :rank] * s[:rank]) @ vh[:rank]
    return (quantized + correction).to(weight.dtype)


@attack("lq-lora")
def lq_lora(model, *, bits: int = 4, group_size: int | None = None, rank: int = 16, steps: int = 100,
            lr: float = 1e-3, seed: int = 0, domain: str = "manuals", progress: bool = False):
    """Quantise the attention and FFN matrices, fit a rank-``rank`` correction, train it as LoRA, merge."""
    group = _default_group(bits, group_size)
    with torch.no_grad():
        for _, weight, transposed in linear_weights(model):
            w = weight.data.T if transposed else weight.data
            fitted = low_rank_error(w, min(rank, min(w.shape)), bits, group)
            weight.data.copy_(fitted.T if transposed else fitted)
    if steps <= 0:
        return model
    from .lora import lora_merge  # the LoRA trainer shared with "lora-qkv" / "lora-head"

    return lora_merge(model, _lora_targets(model), rank=rank, steps=steps, lr=lr, seed=seed, domain=domain,
                      progress=progress)


def _lora_targets(model) -> list[str]:
    names = {name.rsplit(".", 1)[-1] for name, _, _ in linear_weights(model)}
    return sorted(names)
