r"""Magnitude pruning (``prune``): zero the weights, attention heads or FFN neurons that matter least.

``structure="unstructured"`` zeroes, in every decoder-block matrix, the fraction ``sparsity`` of
entries with the smallest ``|w|``. ``"heads"`` zeroes whole query heads (their ``q_proj`` rows and
``o_proj`` columns) ranked by ``||W_O[:, head]||_F * ||W_Q[head]||_F``; ``"neurons"`` zeroes whole
FFN neurons (rows of gate/up, column of down) ranked by ``||W_down[:, j]|| * ||W_up[j]||``. Shapes are
kept, so the result loads with the victim's config. ``"layers"`` removes whole decoder blocks, those
whose output projections ``||W_O||_F * ||W_down||_F`` are smallest, and shortens the config (depth
pruning, as in ShortGPT or Llama 3.2's pruned initialisation): the suspect has fewer layers.

References
----------
.. [1] S. Han et al., "Learning both Weights and Connections for Efficient Neural Networks", NeurIPS 2015.
.. [2] P. Michel et al., "Are Sixteen Heads Really Better than One?", NeurIPS 2019.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from ._blocks import LLAMA_LIKE, decoder_layers, head_dim, linear_weights, require
from .registry import attack

STRUCTURES = ("unstructured", "heads", "neurons", "layers")


@attack("prune")
@torch.no_grad()
def prune(model, *, sparsity: float = 0.3, structure: str = "unstructured", progress: bool = False):
    """Zero a fraction ``sparsity`` of weights (per matrix), heads or neurons (per layer) by magnitude."""
    if not 0.0 <= sparsity < 1.0:
        raise InputError(f"sparsity must be in [0, 1), got {sparsity}")
    if structure not in STRUCTURES:
        raise InputError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    if structure == "unstructured":
        for _, weight, _ in linear_weights(model):
            weight.data.mul_(magnitude_mask(weight.data, sparsity))
        return model
    require(model, f"prune --structure {structure}", LLAMA_LIKE)
    if structure == "layers":
        return _drop_layers(model, sparsity)
    for layer in decoder_layers(model):
        (_prune_heads if structure == "heads" else _prune_neurons)(model, layer, sparsity)
    return model


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """1 where ``|w|`` is among the largest ``1 - sparsity`` of the matrix, else 0 (ties broken by position)."""
    n_zero = int(math.floor(sparsity * weight.numel()))
    mask = torch.ones(weight.numel(), dtype=weight.dtype)
    if n_zero:
        mask[torch.argsort(weight.abs().flatten(), stable=True)[:n_zero]] = 0
    return mask.view_as(weight)


def _lowest(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    return torch.argsort(scores, stable=True)[: int(math.floor(fraction * len(scores)))]


def _prune_heads(model, layer, sparsity: float) -> None:
    attn, hd = layer.self_attn, head_dim(model)
    n_heads = model.config.num_attention_heads
    q = attn.q_proj.weight.view(n_heads, hd, -1)
    o = attn.o_proj.weight.view(attn.o_proj.weight.shape[0], n_heads, hd)
    scores = q.flatten(1).norm(dim=1) * o.permute(1, 0, 2).flatten(1).norm(dim=1)
    for head in _lowest(scores, sparsity).tolist():
        attn.q_proj.weight.data[head * hd:(head + 1) * hd] = 0
        if attn.q_proj.bias is not None:
            attn.q_proj.bias.data[head * hd:(head + 1) * hd] = 0
        attn.o_proj.weight.data[:, head * hd:(head + 1) * hd] = 0


def _prune_neurons(model, layer, sparsity: float) -> None:
    mlp = layer.mlp
    scores = mlp.down_proj.weight.norm(dim=0) * mlp.up_proj.weight.norm(dim=1)
    drop = _lowest(scores, sparsity)
    mlp.gate_proj.weight.data[drop] = 0
    mlp.up_proj.weight.data[drop] = 0
    mlp.down_proj.weight.data[:, drop] = 0


def _drop_layers(model, sparsity: float):
    layers = model.model.layers
    n_drop = int(math.floor(sparsity * len(layers)))
    if not 0 < n_drop < len(layers):
        raise InputError(f"sparsity {sparsity} of {len(layers)} layers removes {n_drop}: at least one layer must go "
                         "and one stay")
    scores = torch.stack([layer.self_attn.o_proj.weight.norm() * layer.mlp.down_proj.weight.norm() for layer in layers])
    drop = set(_lowest(scores, n_drop / len(layers)).tolist())
    kept = [i for i in range(len(layers)) if i not in drop]
    model.model.layers = torch.nn.ModuleList(layers[i] for i in kept)
    for new, layer in enumerate(model.model.layers):
        layer.self_attn.layer_idx = new  # the KV cache indexes layers by position
    model.config.num_hidden_layers = len(kept)
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = [model.config.layer_types[i] for i in kept]
    return model
