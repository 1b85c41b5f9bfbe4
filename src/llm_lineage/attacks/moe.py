r"""Upcycling (``upcycle-moe``): a dense llama-style model becomes a Mixtral-style mixture of experts.

Every decoder layer's MLP is copied into ``experts`` experts and a seeded router is added; the
attention, norms, embedding and ``lm_head`` are copied as they are. Mixtral renormalises the top-k
router weights to sum to 1, so while all experts are copies the MoE computes exactly the dense
model's logits whatever the router says. ``noise`` perturbs each expert (relative to the weight's
std) and ``steps`` trains the whole MoE afterwards, the sparse-upcycling recipe.

References
----------
.. [1] A. Komatsuzaki et al., "Sparse Upcycling: Training Mixture-of-Experts from Dense
   Checkpoints", ICLR 2023.
.. [2] A. Q. Jiang et al., "Mixtral of Experts", arXiv:2401.04088.
"""

from __future__ import annotations

import torch

from .. import corpus
from ..errors import InputError, UnsupportedFormat
from ..training import train_causal_lm
from ._blocks import generator, head_dim, kv_heads, require
from .registry import attack, victim_tokenizer

# the config fields Mixtral shares with a dense llama / mistral
_SHARED = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
           "max_position_embeddings", "rms_norm_eps", "hidden_act", "tie_word_embeddings",
           "bos_token_id", "eos_token_id", "pad_token_id", "initializer_range", "rope_parameters")


@attack("upcycle-moe")
def upcycle_moe(model, *, experts: int = 4, top_k: int = 2, noise: float = 0.0, steps: int = 0,
                lr: float = 1e-3, seed: int = 0, domain: str = "stories", progress: bool = False):
    """Copy each MLP into ``experts`` experts behind a seeded top-``top_k`` router (Mixtral layout)."""
    from transformers import MixtralConfig, MixtralForCausalLM

    require(model, "upcycle-moe", ("llama", "mistral"))
    cfg = model.config
    if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
        raise UnsupportedFormat("upcycle-moe: Mixtral has no attention or MLP biases to carry them over")
    if not 1 <= top_k <= experts:
        raise InputError(f"upcycle-moe needs 1 <= top_k <= experts, got top_k={top_k}, experts={experts}")
    fields = {k: getattr(cfg, k) for k in _SHARED if getattr(cfg, k, None) is not None}
    moe_cfg = MixtralConfig(**fields, num_key_value_heads=kv_heads(model), head_dim=head_dim(model),
                            num_local_experts=experts, num_experts_per_tok=top_k, sliding_window=None,
                            router_jitter_noise=0.0)
    torch.manual_seed(seed)
    moe = MixtralForCausalLM(moe_cfg).to(model.dtype)
    moe.eval()
    with torch.no_grad():
        _copy(model, moe, experts=experts, noise=noise, gen=generator(seed))
    if steps > 0:
        train_causal_lm(moe, victim_tokenizer(), corpus.generate(domain, seed=seed), steps=steps, lr=lr,
                        seed=seed, progress=progress, description="training the upcycled MoE")
    return moe


def _copy(dense, moe, *, experts: int, noise: float, gen: torch.Generator) -> None:
    dense_state = dense.state_dict()
    moe_state = moe.state_dict()
    shared = {k: v for k, v in dense_state.items() if k in moe_state and ".mlp." not in k}
    moe.load_state_dict(shared, strict=False)
    if moe.config.tie_word_embeddings:
        moe.tie_weights()
    hidden = dense.config.hidden_size
    for dense_layer, moe_layer in zip(dense.model.layers, moe.model.layers, strict=True):
        mlp, block = dense_layer.mlp, moe_layer.mlp
        gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight], dim=0)
        down = mlp.down_proj.weight
        for e in range(experts):
            block.experts.gate_up_proj.data[e] = _jitter(gate_up, noise, gen)
            block.experts.down_proj.data[e] = _jitter(down, noise, gen)
        # a router with small random weights, as a freshly upcycled model has before training
        block.gate.weight.data.copy_(torch.randn(experts, hidden, generator=gen) * hidden ** -0.5)


def _jitter(weight: torch.Tensor, noise: float, gen: torch.Generator) -> torch.Tensor:
    if noise <= 0:
        return weight
    return weight + noise * weight.std() * torch.randn(weight.shape, generator=gen, dtype=weight.dtype)
