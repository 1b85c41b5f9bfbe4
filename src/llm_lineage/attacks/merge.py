"""Model merges, the way mergekit makes them: several parents of one architecture, one model.

The victim is one parent; the others come by path (``--option others=P1,P2``), and must have the
victim's architecture and shapes. The arithmetic follows mergekit's documented methods
(github.com/arcee-ai/mergekit, LGPL-3.0 since its 0.1.4; not a dependency here, its pins would
fight ours), per tensor, in float32:

- ``merge-linear``: ``sum w_i theta_i / sum w_i`` (``weights``, default equal);
- ``merge-slerp``: spherical interpolation from the victim to one other at ``t`` along the angle
  between the flattened tensors, linear where they are nearly colinear (|cos| > 0.9995);
- ``merge-ties``: task vectors ``tau_i = theta_i - base`` (``base`` a path, default the victim),
  each trimmed to its ``density`` largest magnitudes, a sign elected per entry by the weighted sum,
  and the entries agreeing with it averaged (weighted); Yadav et al., NeurIPS 2023;
- ``merge-dare``: the same with random dropping instead of trimming: each task-vector entry kept
  with probability ``density`` and rescaled by ``1 / density`` (Yu et al., ICML 2024), then the
  TIES sign election (mergekit's ``dare_ties``);
- ``merge-passthrough``: a "frankenmerge": the victim's first ``split`` blocks, then the other's
  blocks from ``split`` on (``others`` names one model), embeddings and head from the victim.
"""

from __future__ import annotations

import math

import torch

from .. import zoo
from ..errors import InputError
from ._blocks import decoder_layers, generator
from .registry import attack

DOT_THRESHOLD = 0.9995  # mergekit's: beyond this the tensors are colinear and slerp is lerp


def _parents(model, others: str | None, *, exactly: int | None = None) -> list:
    paths = [p for p in (others or "").split(",") if p.strip()]
    if not paths or (exactly is not None and len(paths) != exactly):
        want = f"exactly {exactly}" if exactly else "one or more"
        raise InputError(f"a merge needs {want} other parent(s): --option others=PATH[,PATH]")
    loaded = [zoo.load(p.strip()) for p in paths]
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    for path, other in zip(paths, loaded, strict=True):
        theirs = {k: v.shape for k, v in other.state_dict().items()}
        if theirs != shapes:
            differ = next((k for k in shapes if theirs.get(k) != shapes[k]), next(iter(set(theirs) - set(shapes)), "?"))
            raise InputError(f"{path} cannot be merged with the victim: {differ} differs in name or shape")
    return loaded


def _weights(weights: str | None, n: int) -> list[float]:
    if weights is None:
        return [1.0] * n
    try:
        values = [float(w) for w in str(weights).split(",")]
    except ValueError:
        values = []
    if len(values) != n or not all(math.isfinite(w) for w in values) or abs(sum(values)) < 1e-12:
        raise InputError(f"weights must be {n} finite numbers (victim first) with a non-zero sum; got {weights!r}")
    return values


def _assign(model, merged: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    for name, value in merged.items():
        state[name].copy_(value.to(state[name].dtype))


@attack("merge-linear")
@torch.no_grad()
def linear(model, *, others: str | None = None, weights: str | None = None, progress: bool = False):
    """Weighted average of the victim and the others (weights in that order, normalised)."""
    parents = [model, *_parents(model, others)]
    w = _weights(weights, len(parents))
    states = [p.state_dict() for p in parents]
    _assign(model, {name: sum(wi * s[name].float() for wi, s in zip(w, states, strict=True)) / sum(w)
                    for name in states[0]})
    return model


def slerp(t: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``a`` (t = 0) to ``b`` (t = 1) along their angle."""
    a64, b64 = a.double().flatten(), b.double().flatten()
    na, nb = a64.norm(), b64.norm()
    cos = float((a64 / na) @ (b64 / nb)) if na > 1e-8 and nb > 1e-8 else 1.0
    if abs(cos) > DOT_THRESHOLD:
        return ((1 - t) * a.double() + t * b.double()).to(a.dtype)
    theta = math.acos(cos)
    s0, s1 = math.sin((1 - t) * theta) / math.sin(theta), math.sin(t * theta) / math.sin(theta)
    return (s0 * a.double() + s1 * b.double()).to(a.dtype)


@attack("merge-slerp")
@torch.no_grad()
def slerp_merge(model, *, others: str | None = None, t: float = 0.5, progress: bool = False):
    """Spherical interpolation from the victim towards one other model, per tensor, at ``t``."""
    if not 0.0 <= float(t) <= 1.0:
        raise InputError(f"t must be between 0 and 1, got {t}")
    (other,) = _parents(model, others, exactly=1)
    theirs = other.state_dict()
    _assign(model, {name: slerp(float(t), value.float(), theirs[name].float())
                    for name, value in model.state_dict().items()})
    return model


def ties(base: torch.Tensor, parents: list[torch.Tensor], weights: list[float], density: float, *,
         random_drop: torch.Generator | None = None) -> torch.Tensor:
    """TIES (or DARE with ``random_drop``) of one tensor: sparsify the task vectors, elect a sign
    per entry by their weighted sum, average the weighted entries that agree with it."""
    deltas = []
    for theta in parents:
        tau = theta - base
        if density < 1.0:
            if random_drop is not None:  # DARE: keep each entry with probability density, rescaled
                keep = torch.rand(tau.shape, generator=random_drop) < density
                tau = tau * keep / density
            else:  # TIES: keep the density largest magnitudes
                k = max(1, int(round(density * tau.numel())))
                threshold = tau.abs().flatten().kthvalue(tau.numel() - k + 1).values
                tau = tau * (tau.abs() >= threshold)
        deltas.append(tau)
    stacked = torch.stack(deltas)
    w = torch.tensor(weights, dtype=stacked.dtype).view(-1, *([1] * base.dim()))
    weighted = stacked * w
    elected = torch.where(weighted.sum(dim=0) >= 0, 1.0, -1.0)
    agree = (torch.sign(stacked) == elected).to(stacked.dtype)
    divisor = (w * agree).sum(dim=0)
    divisor[divisor == 0] = 1.0
    return base + (weighted * agree).sum(dim=0) / divisor


def _task_arithmetic(model, others: str | None, base: str | None, weights: str | None, density: float,
                     random_drop: torch.Generator | None):
    if not 0.0 < float(density) <= 1.0:
        raise InputError(f"density must be in (0, 1], got {density}")
    parents = [model, *_parents(model, others)]
    base_state = (_parents(model, base, exactly=1)[0] if base else model).state_dict()
    base_state = {k: v.float().clone() for k, v in base_state.items()}
    w = _weights(weights, len(parents))
    states = [p.state_dict() for p in parents]
    _assign(model, {name: ties(base_state[name], [s[name].float() for s in states], w, float(density),
                               random_drop=random_drop) for name in states[0]})
    return model


@attack("merge-ties")
@torch.no_grad()
def ties_merge(model, *, others: str | None = None, base: str | None = None, weights: str | None = None,
               density: float = 0.5, progress: bool = False):
    """TIES over the victim and the others, task vectors taken against ``base`` (default: the victim)."""
    return _task_arithmetic(model, others, base, weights, density, None)


@attack("merge-dare")
@torch.no_grad()
def dare_merge(model, *, others: str | None = None, base: str | None = None, weights: str | None = None,
               density: float = 0.5, seed: int = 0, progress: bool = False):
    """DARE (random drop and rescale) with TIES's sign election, against ``base`` (default: the victim)."""
    return _task_arithmetic(model, others, base, weights, density, generator(seed))


@attack("merge-passthrough")
@torch.no_grad()
def passthrough(model, *, others: str | None = None, split: int | None = None, progress: bool = False):
    """The victim's blocks before ``split`` (default: half), the other's from ``split`` on."""
    (other,) = _parents(model, others, exactly=1)
    mine, theirs = decoder_layers(model), decoder_layers(other)
    split = len(mine) // 2 if split is None else int(split)
    if not 0 < split < len(mine):
        raise InputError(f"split must be between 1 and {len(mine) - 1}, got {split}")
    for index in range(split, len(mine)):
        mine[index].load_state_dict(theirs[index].state_dict())
    return model
