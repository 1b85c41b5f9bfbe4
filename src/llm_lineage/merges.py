r"""Which candidates a merged model was made from, and in what proportions (``merge-parents``).

A merge (mergekit's linear, SLERP, TIES, DARE, passthrough; ``attacks/merge.py``) has several
parents, and its model card often omits or misstates them. Given a suspect and candidate parents
of its architecture, three questions are answered from the weights, one block at a time:

1. **Is each candidate related?** Each candidate against the suspect with ``tracing``, whose
   null is exact (a random permutation of the suspect's FFN units: Zhu et al., "Independence Tests
   for Language Models", ICML 2025), Holm-corrected over the candidates. A derived verdict says the
   two share a weights' lineage; it has no direction and cannot tell a parent from a grandparent
   or a sibling (a fine-tune's base tests derived against a merge of two of its fine-tunes too).
   The weights below tell them apart.
2. **Which block came from whom?** Each suspect block against every candidate block (same roles
   and shapes): the relative distance ``||S_l - C_m|| / ||S_l||`` on a seeded sample of entries
   (the same positions in every model). A block within :data:`COPIED` of a candidate's block, and
   :data:`APART` times nearer to it than to any other candidate's, is that block, copied (a
   passthrough merge, a "frankenmerge"); otherwise the nearest is reported.
3. **Mixing weights.** Per block, least squares of the suspect's entries on the candidates'
   entries, ``S_l ~ sum_i w_i C_{i,l}``; with ``base`` (task arithmetic, TIES, DARE) of the task
   vectors, ``S_l - B_l ~ sum_i w_i (C_{i,l} - B_l)``. A linear merge is recovered exactly (relative
   residual at float rounding); SLERP between near-colinear parents (fine-tunes of one model) is
   linear to first order, so its ``t`` comes back as the weights ``(1 - t, t)``; TIES and DARE leave
   a residual, reported. The overall weight is the mean over blocks, its 95% confidence interval
   Student's t over blocks (blocks as replicates: a merge that mixes every block alike has a
   narrow one; a passthrough merge, whose blocks are (1, 0) or (0, 1), a wide one). Weights are
   **not identifiable** when two candidates (or their task vectors) are nearly the same vector:
   the fit cannot split a share between them, and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, LineageError
from .stats import Verdict, holm
from .weights import Checkpoint, open_checkpoint

SAMPLE = 65_536        # entries per block read for distances and weights (all of them when fewer)
COPIED = 1e-3          # relative distance below which a block is a copy (bf16 rounding is 2e-3 / 2)
APART = 10.0           # ... when every other candidate's block is this many times further away
NEAR_IDENTICAL = 1e-4  # relative distance between two candidates' vectors below which weights are not identifiable


@dataclass(frozen=True)
class ParentTest:
    name: str
    verdict: Verdict
    p_value: float
    holm_p_value: float
    note: str


@dataclass(frozen=True)
class BlockSource:
    layer: int
    source: str | None       # "CANDIDATE block M" when copied, else None
    nearest: str             # the nearest candidate block, and how near
    distance: float
    donor: int | None = None  # the index of the candidate it was copied from


@dataclass(frozen=True)
class MixingWeight:
    name: str
    weight: float            # mean over blocks
    ci_low: float
    ci_high: float
    per_block: tuple[float, ...]


@dataclass(frozen=True)
class MergeParents:
    suspect: str
    base: str | None
    parents: tuple[ParentTest, ...]
    blocks: tuple[BlockSource, ...]
    weights: tuple[MixingWeight, ...]
    residual: float          # relative residual of the fit, median over blocks
    identifiable: bool
    identifiability: str
    alpha: float
    explanation: str


def merge_parents(suspect: str | Path, candidates: list[str | Path], *, base: str | Path | None = None,
                  alpha: float = 0.01, test_parents: bool = True, progress: bool = False) -> MergeParents:
    """Decompose ``suspect`` over ``candidates`` (see the module docstring). ``test_parents=False``
    skips question 1 for callers that tested the pairs already (the family tree)."""
    from .progress import track

    if not candidates:
        raise InputError("merge-parents needs at least one candidate parent")
    names = _names(candidates)
    s_ckpt = open_checkpoint(suspect)
    c_ckpts = [open_checkpoint(c) for c in candidates]
    b_ckpt = open_checkpoint(base) if base is not None else None
    roles = _block_roles(s_ckpt)
    for name, ckpt in [*zip(names, c_ckpts, strict=True), *([("the base", b_ckpt)] if b_ckpt else [])]:
        missing = [r for r in roles if not ckpt.has(r, 0)]
        if missing or any(ckpt.shape(r, 0) != s_ckpt.shape(r, 0) for r in roles):
            raise InputError(f"{name} does not have the suspect's block shapes ({', '.join(missing) or 'shapes differ'})"
                             ": a merge's parents share its architecture")
    if b_ckpt is not None and b_ckpt.n_layers != s_ckpt.n_layers:
        raise InputError(f"the base has {b_ckpt.n_layers} blocks and the suspect {s_ckpt.n_layers}: task vectors "
                         "need one base block per suspect block")
    parents = (_parent_tests(suspect, candidates, names, alpha) if test_parents else
               tuple(ParentTest(n, Verdict.INCONCLUSIVE, math.nan, math.nan, "not tested here") for n in names))
    layers = range(s_ckpt.n_layers)
    s_blocks = [_sample(s_ckpt, roles, layer) for layer in (track(layers, "reading blocks") if progress else layers)]
    c_blocks = [[_sample(c, roles, layer) for layer in range(c.n_layers)] for c in c_ckpts]
    b_blocks = [_sample(b_ckpt, roles, layer) for layer in layers] if b_ckpt is not None else None

    blocks = tuple(_source(layer, s_blocks[layer], names, c_blocks) for layer in layers)
    per_block, residuals = [], []
    for layer in layers:
        y = s_blocks[layer]
        x = np.stack([c[layer] if layer < len(c) else np.full_like(y, np.nan) for c in c_blocks], axis=1)
        if b_blocks is not None:
            y, x = y - b_blocks[layer], x - b_blocks[layer][:, None]
        w, residual = _fit(y, x)
        per_block.append(w)
        residuals.append(residual)
    table = np.asarray(per_block)
    weights = tuple(_mean_ci(name, table[:, i]) for i, name in enumerate(names))
    identifiable, why = _identifiability(names, c_blocks, b_blocks)
    result = MergeParents(str(suspect), None if base is None else str(base), parents, blocks, weights,
                          float(np.nanmedian(residuals)), identifiable, why, alpha, "")
    return _explained(result)


def _names(candidates: list[str | Path]) -> list[str]:
    from .weights.hub import described

    names = [described(c) for c in candidates]
    return [n if names.count(n) == 1 else str(c) for n, c in zip(names, candidates, strict=True)]


def _parent_tests(suspect: str | Path, candidates: list[str | Path], names: list[str], alpha: float
                  ) -> tuple[ParentTest, ...]:
    from .methods import get_method

    tracing = get_method("tracing")
    results: list[tuple[str, float, str]] = []
    for name, candidate in zip(names, candidates, strict=True):
        try:
            r = tracing.verify(candidate, suspect)
            results.append((name, r.p_value, r.note))
        except LineageError as exc:
            results.append((name, math.nan, f"tracing cannot compare them: {exc}"))
    adjusted = holm([p for _, p, _ in results])
    return tuple(ParentTest(name, Verdict.INCONCLUSIVE if math.isnan(p) else
                            Verdict.DERIVED if h <= alpha else Verdict.UNRELATED, p, h, note)
                 for (name, p, note), h in zip(results, adjusted, strict=True))


def _block_roles(ckpt: Checkpoint) -> list[str]:
    """The per-block matrices every decoder block has (experts aside)."""
    roles = sorted({r.role for r in ckpt.roles() if r.layer == 0 and r.expert is None and len(r.shape) == 2})
    if not roles:
        raise InputError(f"{ckpt.path} has no per-block weight matrices to compare")
    return roles


def _sample(ckpt: Checkpoint, roles: list[str], layer: int) -> np.ndarray:
    """A seeded sample of the block's entries, at the same positions in every model of the shape."""
    parts = []
    for role in roles:
        matrix = ckpt.tensor(role, layer, dtype=np.float64).ravel()
        share = max(1, SAMPLE // len(roles))
        if matrix.size > share:
            rng = np.random.default_rng([len(role), matrix.size, sum(map(ord, role))])
            matrix = matrix[np.sort(rng.choice(matrix.size, share, replace=False))]
        parts.append(matrix)
    return np.concatenate(parts)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b)) / max(float(np.linalg.norm(a)), 1e-300)


def _source(layer: int, block: np.ndarray, names: list[str], candidates: list[list[np.ndarray]]) -> BlockSource:
    """The nearest candidate block to the suspect's block ``layer``; a copy when within COPIED and
    :data:`APART` times nearer than any other candidate's block (relatives a few fine-tuning steps
    apart are all within COPIED of a mix of them, and none of them is the block's donor)."""
    distances = [(_distance(block, c), i, m) for i, blocks in enumerate(candidates) for m, c in enumerate(blocks)]
    distance, i, m = min(distances, key=lambda x: (x[0], x[2] != layer))
    others = [d for d, j, _ in distances if j != i]
    nearest = f"{names[i]} block {m} (relative distance {distance:.2g})"
    copied = distance <= COPIED and all(distance * APART <= d for d in others)
    return BlockSource(layer, f"{names[i]} block {m}" if copied else None, nearest, distance, i if copied else None)


def _fit(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares weights and the relative residual; NaN where a candidate lacks the block."""
    usable = ~np.isnan(x).any(axis=0)
    w = np.full(x.shape[1], np.nan)
    if not usable.any():
        return w, math.nan
    scale = np.linalg.norm(x[:, usable], axis=0)
    scale[scale == 0] = 1.0
    solution, *_ = np.linalg.lstsq(x[:, usable] / scale, y, rcond=None)
    w[usable] = solution / scale
    residual = float(np.linalg.norm(y - x[:, usable] @ w[usable])) / max(float(np.linalg.norm(y)), 1e-300)
    return w, float(residual)


def _mean_ci(name: str, values: np.ndarray) -> MixingWeight:
    from scipy import stats

    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return MixingWeight(name, math.nan, math.nan, math.nan, tuple(values.tolist()))
    mean = float(finite.mean())
    if finite.size < 2:
        return MixingWeight(name, mean, math.nan, math.nan, tuple(values.tolist()))
    half = float(stats.t.ppf(0.975, finite.size - 1) * finite.std(ddof=1) / math.sqrt(finite.size))
    return MixingWeight(name, mean, mean - half, mean + half, tuple(values.tolist()))


def _identifiability(names: list[str], candidates: list[list[np.ndarray]],
                     base: list[np.ndarray] | None) -> tuple[bool, str]:
    """Whether the fit can split a share between every two candidates (their vectors differ)."""
    def vector(blocks: list[np.ndarray]) -> np.ndarray:
        n = min(len(blocks), len(base)) if base is not None else len(blocks)
        return np.concatenate([blocks[i] - (base[i] if base is not None else 0.0) for i in range(n)])

    vectors = [vector(b) for b in candidates]
    what = "task vectors" if base is not None else "weights"
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            if vectors[i].shape == vectors[j].shape and _distance(vectors[i], vectors[j]) < NEAR_IDENTICAL:
                return False, (f"{names[i]} and {names[j]} have nearly the same {what} (relative distance "
                               f"{_distance(vectors[i], vectors[j]):.1g}): their shares cannot be told apart")
    return True, f"every two candidates' {what} differ, so each share is estimable"


def _explained(r: MergeParents) -> MergeParents:
    from dataclasses import replace

    ancestors = [p.name for p in r.parents if p.verdict is Verdict.DERIVED]
    weighted = [w for w in r.weights if math.isfinite(w.weight) and abs(w.weight) >= 0.05]
    copied = {r.parents[b.donor].name for b in r.blocks if b.donor is not None}
    # tracing tells related from unrelated, not which way: the weights and copied blocks say who mixed in
    parts = [f"shares its weights' lineage with {', '.join(ancestors)} (tracing, exact null, Holm over "
             f"{len(r.parents)} candidates)" if ancestors else "related to none of the candidates (tracing, Holm)"]
    if weighted and r.identifiable:
        parts.append("mixing weights " + ", ".join(f"{w.name} {w.weight:.3f} [{w.ci_low:.3f}, {w.ci_high:.3f}]"
                                                   for w in weighted)
                     + f" (relative residual {r.residual:.2g})")
    elif not r.identifiable:
        parts.append(f"mixing weights not identifiable: {r.identifiability}")
    if len(copied) > 1:
        parts.append("blocks copied from " + " and ".join(sorted(copied)) + " (a passthrough merge)")
    ancestor_only = [a for a in ancestors if a not in {w.name for w in weighted} and a not in copied]
    if ancestor_only and weighted:
        parts.append(f"{', '.join(ancestor_only)}: related, with no share of its own (a parent's base, or "
                     "another relative)")
    return replace(r, explanation="; ".join(parts))
