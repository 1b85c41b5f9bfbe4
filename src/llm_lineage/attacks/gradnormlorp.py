r"""GradNormLoRP: fine-tuning with weight-normalised, low-rank-projected gradients.

Huang et al., "GradNormLoRP: Gradient-Weight Normalized Low-Rank Projection for Efficient LLM
Training" (arXiv:2412.19616, 2024). Every matrix is read as ``W = m * V / ||V||`` (row norms ``m``,
directions ``V``); the gradient of the directions, with its radial part removed, is projected on
its top-``rank`` left singular vectors (recomputed every ``update_every`` steps, as GaLore does),
and Adam runs in that ``rank x in`` space; norms and every other parameter get plain Adam. A thief
uses it to fine-tune a large model on small hardware, and the change it leaves per step has low
rank while the accumulated change need not.
"""

from __future__ import annotations

import math

import torch

from .. import corpus, zoo
from ..training import train_causal_lm
from .registry import attack


class GradNormLoRPOptimizer(torch.optim.Optimizer):
    """Adam on weight-normalised directions in a low-rank gradient subspace (module docstring)."""

    def __init__(self, params, *, lr: float = 1e-3, rank: int = 8, update_every: int = 50,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, {"lr": lr, "rank": rank, "update_every": update_every, "betas": betas, "eps": eps})

    @staticmethod
    def _adam(state: dict, key: str, grad: torch.Tensor, betas: tuple[float, float], eps: float, step: int) -> torch.Tensor:
        m = state.setdefault(f"{key}_m", torch.zeros_like(grad))
        v = state.setdefault(f"{key}_v", torch.zeros_like(grad))
        m.mul_(betas[0]).add_(grad, alpha=1 - betas[0])
        v.mul_(betas[1]).addcmul_(grad, grad, value=1 - betas[1])
        return (m / (1 - betas[0] ** step)) / ((v / (1 - betas[1] ** step)).sqrt() + eps)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, betas, eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] = step = state.get("step", 0) + 1
                if p.ndim != 2 or min(p.shape) <= group["rank"]:
                    p.add_(self._adam(state, "full", p.grad, betas, eps, step), alpha=-lr)
                    continue
                norms = p.norm(dim=1, keepdim=True).clamp_min(1e-12)
                direction = p / norms
                radial = (p.grad * direction).sum(dim=1, keepdim=True)      # dL/dm
                tangent = (p.grad - radial * direction) * norms             # dL/dV at ||V|| = 1
                if "projection" not in state or (step - 1) % group["update_every"] == 0:
                    u, _, _ = torch.linalg.svd(tangent, full_matrices=False)
                    state["projection"] = u[:, : group["rank"]].contiguous()
                    state.pop("low_m", None)  # a new subspace: its moments start again
                    state.pop("low_v", None)
                projection = state["projection"]
                low = projection.T @ tangent
                direction -= lr * (projection @ self._adam(state, "low", low, betas, eps, step))
                new_norms = norms - lr * self._adam(state, "norm", radial, betas, eps, step)
                p.copy_(direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12) * new_norms)
        return None


@attack("gradnormlorp")
def gradnormlorp(model, *, steps: int = 100, lr: float = 1e-3, rank: int = 8, update_every: int = 50, seed: int = 0,
                 domain: str = "manuals", progress: bool = False):
    """Fine-tune every parameter with :class:`GradNormLoRPOptimizer` on a corpus the victim never saw."""
    if rank < 1 or update_every < 1 or not math.isfinite(lr):
        from ..errors import InputError

        raise InputError(f"gradnormlorp needs rank >= 1, update_every >= 1 and a finite lr (got {rank}, "
                         f"{update_every}, {lr})")
    train_causal_lm(model, zoo.tokenizer(), corpus.generate(domain, seed=seed), steps=steps, lr=lr, seed=seed,
                    progress=progress, description="GradNormLoRP fine-tuning",
                    optimizer=lambda params: GradNormLoRPOptimizer(params, lr=lr, rank=rank, update_every=update_every))
    return model
