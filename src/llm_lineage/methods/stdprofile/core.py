r"""Per-layer standard deviations of the attention projections: the "intrinsic fingerprint".

This module owns the maths: reading a model's profiles (one tensor at a time, through
``weights/``), correlating two models' profiles over relative depth, and turning the score into
a verdict against a null of unrelated models (through ``stats``). Figures are drawn in
``plot.py``; which models make a good null is ``references``'s business.

What it resists and what it does not: the profile is a handful of numbers per layer that
continued pre-training, fine-tuning, LoRA merges, quantisation, pruning of a few weights and MoE
upcycling (attention copied as is) barely move, and it is blind to permutations of heads or of
the hidden dimension (a standard deviation ignores order). It is *not* invariant to the
function-preserving rescaling ``W_Q c, W_K / c`` (or ``W_V c, W_O / c``) per head, which a thief
can apply for free, and models trained by the same recipe on the same data share much of their
profile's shape, so unrelated models can correlate highly. The null distribution exists to say
when that happens: then the verdict is ``inconclusive``, whatever the score.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ... import progress as _progress
from ...errors import ConfigError
from ...references import family, how_to_fix, same_file
from ...stats import NullCalibration, Verdict, calibrate, decide, summarize
from ...stats.nulls import cached_null_scores
from ...weights import Checkpoint, open_checkpoint
from ..base import Kind, Method, Result
from .config import EXTRA_ROLES, PROJECTIONS, StdProfileConfig

METHOD = "std-profile"
_BLOCK = 1 << 16  # elements widened to float64 at a time: 512 KiB, within L2 (fastest measured)


@dataclass(frozen=True)
class StdProfile:
    """A model's per-layer standard deviations.

    ``sigma[i, l]`` is the standard deviation of ``projections[i]`` in layer ``l``;
    ``extra_sigma[j, l]`` the same for ``extra_roles[j]`` (biases, attention norms).
    """

    name: str
    model: str                   # the path it was read from
    config: dict[str, Any]       # architecture sizes, to build null models without the weights
    n_layers: int
    projections: tuple[str, ...]
    sigma: np.ndarray            # (len(projections), n_layers), float64
    extra_roles: tuple[str, ...]
    extra_sigma: np.ndarray      # (len(extra_roles), n_layers), float64
    is_moe: bool
    stored_dtype: str            # dtype of the attention weights on disk


@dataclass(frozen=True)
class StdProfileResult(Result):
    """Verdict of the std-profile comparison (``score``: mean Pearson correlation over q, k, v, o)."""

    correlations: dict[str, float]        # per projection
    extra_correlations: dict[str, float]  # biases / attention norms present in both models
    z_score: float                        # (score - null mean) / null sd
    best_possible_p: float                # p-value an identical copy (score 1) would get
    null_scores: tuple[float, ...]
    null_source: str
    owner_layers: int
    suspect_layers: int


# --- reading -------------------------------------------------------------------------------------


def layer_std(weight: np.ndarray) -> float:
    r"""Population standard deviation of all entries, accumulated in float64.

    Blocks of the tensor are widened to float64 one at a time and, unless the tensor is centred,
    shifted by ``c`` (the mean of the first block) so that the difference of squares cannot
    cancel when the mean dwarfs the spread (norm gains sit near 1)::

        d = w - c,    sigma = sqrt( sum d^2 / n - (sum d / n)^2 )

    Each block fits in the CPU cache, so widening costs no extra trip to memory and no float64
    copy of the whole tensor is made.

    >>> layer_std(np.array([1.0, 3.0]))
    1.0
    """
    w = np.asarray(weight).reshape(-1)
    n = w.size
    if n == 0:
        return math.nan
    first = w[:_BLOCK].astype(np.float64)
    shift = float(first.mean())
    # weight matrices are centred (|mean| << sd): shifting them would be a wasted pass
    centred = shift * shift <= 1e-2 * float(first.var())
    total = 0.0
    squares = 0.0
    for start in range(0, n, _BLOCK):
        block = w[start:start + _BLOCK].astype(np.float64)
        if not centred:
            block -= shift
        total += float(block.sum())
        # einsum, not np.dot: a BLAS call per block wakes BLAS's thread pool, which costs
        # far more than the arithmetic on a busy machine (measured 200x slower)
        squares += float(np.einsum("i,i->", block, block))
    mean = total / n
    return math.sqrt(max(squares / n - mean * mean, 0.0))  # the shift cancels out of the variance


def fingerprint(model: Checkpoint | str | Path, config: StdProfileConfig = StdProfileConfig(), *,
                progress: bool = False, allow_pickle: bool = False) -> StdProfile:
    """Read the std profiles of a checkpoint, one tensor at a time.

    Parameters
    ----------
    model : Checkpoint or path
        Dense or MoE; packed QKV is split by ``weights/``, so every layout gives the same roles.

    Returns
    -------
    StdProfile
        ``sigma`` of shape ``(4, n_layers)`` and the extra profiles every layer has.
    """
    ckpt = model if isinstance(model, Checkpoint) else open_checkpoint(model, allow_pickle=allow_pickle)
    n = ckpt.n_layers
    if n < 1:
        raise ConfigError(f"{ckpt.path}: config reports {n} layers; nothing to profile")
    extras = tuple(r for r in EXTRA_ROLES if config.extras and all(ckpt.has(r, layer) for layer in range(n)))
    stored = _stored_dtype(ckpt)
    carrier = ckpt.lossless_dtype
    sigma = np.empty((len(PROJECTIONS), n), dtype=np.float64)
    extra_sigma = np.empty((len(extras), n), dtype=np.float64)
    with _progress.progress(f"std profile of {ckpt.name}", total=n) if progress else nullcontext() as bar:
        for layer in range(n):
            # one tensor alive at a time: memory is bounded by the largest projection. Values are
            # read exactly (see Checkpoint.lossless_dtype) and the statistic is accumulated in float64.
            for i, role in enumerate(PROJECTIONS):
                sigma[i, layer] = layer_std(ckpt.tensor(role, layer, dtype=carrier))
            for j, role in enumerate(extras):
                extra_sigma[j, layer] = layer_std(ckpt.tensor(role, layer, dtype=carrier))
            if bar is not None:
                bar.advance()
    sizes = ckpt.config.sizes()
    return StdProfile(name=ckpt.name, model=str(ckpt.path), config=sizes, n_layers=n, projections=PROJECTIONS,
                      sigma=sigma, extra_roles=extras, extra_sigma=extra_sigma, is_moe=ckpt.is_moe,
                      stored_dtype=stored)


def _stored_dtype(ckpt: Checkpoint) -> str:
    for info in ckpt.roles():
        if info.layer == 0 and info.role in ("q_proj", "qkv_proj"):
            return info.dtype
    return "unknown"


# --- comparing -----------------------------------------------------------------------------------


def resample(profile: np.ndarray, n_points: int) -> np.ndarray:
    r"""Linear interpolation of a profile onto ``n_points`` equally spaced relative depths.

    Layer ``l`` of ``L`` sits at relative depth ``l / (L - 1)``, so the first and last layers of
    two models of different depth line up::

        resample(p, n)[k] = interp(k / (n - 1); {l / (L - 1)}, p)

    >>> resample(np.array([0.0, 2.0]), 3).tolist()
    [0.0, 1.0, 2.0]
    """
    profile = np.asarray(profile, dtype=np.float64)
    if len(profile) == n_points:
        return profile
    if len(profile) == 1:
        return np.full(n_points, profile[0])
    return np.interp(np.linspace(0.0, 1.0, n_points), np.linspace(0.0, 1.0, len(profile)), profile)


def correlate(owner: np.ndarray, suspect: np.ndarray, *, min_layers: int = 3) -> float:
    r"""Pearson correlation of two profiles over relative depth.

    The shorter profile is interpolated onto the longer one's depths (:func:`resample`). NaN when
    fewer than ``min_layers`` points remain (over two points any correlation is +-1) or when a
    profile is constant.

    ::

        r = sum_l (a_l - mean a)(b_l - mean b) / (||a - mean a|| ||b - mean b||)
    """
    n = max(len(owner), len(suspect))
    if n < min_layers:
        return math.nan
    a = _centred(resample(owner, n))
    b = _centred(resample(suspect, n))
    if a is None or b is None:
        return math.nan
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.clip(np.dot(a, b) / denom, -1.0, 1.0))


def _centred(profile: np.ndarray) -> np.ndarray | None:
    centred = profile - profile.mean()
    # flat to rounding (untrained norm weights are all ones): no shape to correlate
    if not np.linalg.norm(centred) > 1e-9 * float(np.abs(profile).max()) * math.sqrt(len(profile)):
        return None
    return centred


def correlations(owner: StdProfile, suspect: StdProfile, config: StdProfileConfig = StdProfileConfig()
                 ) -> tuple[dict[str, float], dict[str, float]]:
    """Per-projection correlations, and those of the extra profiles both models have."""
    main = {p: correlate(owner.sigma[i], suspect.sigma[suspect.projections.index(p)], min_layers=config.min_layers)
            for i, p in enumerate(owner.projections)}
    extra = {r: correlate(owner.extra_sigma[i], suspect.extra_sigma[suspect.extra_roles.index(r)],
                          min_layers=config.min_layers)
             for i, r in enumerate(owner.extra_roles) if r in suspect.extra_roles}
    return main, extra


def score(owner: StdProfile, suspect: StdProfile, config: StdProfileConfig = StdProfileConfig()) -> float:
    """Mean of the four projections' correlations (NaN when any is undefined)."""
    return float(np.mean(list(correlations(owner, suspect, config)[0].values())))


def null_from(owner: StdProfile, references: Sequence[StdProfile],
              config: StdProfileConfig = StdProfileConfig()) -> NullCalibration:
    """Scores of the owner against models known to be unrelated to it."""
    names = ", ".join(r.name for r in references)
    return calibrate([score(owner, r, config) for r in references], higher_is_related=True,
                     source=f"std-profile of {owner.name} against {len(references)} unrelated models ({names})")


def compare(owner: StdProfile, suspect: StdProfile, *,
            null: NullCalibration | Sequence[StdProfile] | None = None,
            config: StdProfileConfig = StdProfileConfig()) -> StdProfileResult:
    r"""Does the suspect's std profile follow the owner's more closely than unrelated models' do?

    Steps, as in [1]_:

    1. per projection P in (q, k, v, o): r_P = Pearson(sigma_P^owner, sigma_P^suspect) over
       relative depth (:func:`correlate`);
    2. score = (r_q + r_k + r_v + r_o) / 4;
    3. against null scores s_1..s_n of the owner and unrelated models (``null``), a z-score and a
       p-value (empirical, or Student-t prediction for small n; see ``stats.calibration``);
    4. ``inconclusive`` whenever even an identical copy (score 1) would not be significant: the
       null overlaps the related range, as it can for models of a shared training recipe (two
       independent BabyLlama runs of one recipe score 0.95; see the tests).

    ``null`` is a calibration, or the profiles of unrelated models (scored here), or None
    (then the verdict is ``inconclusive``).

    References
    ----------
    .. [1] "Intrinsic Fingerprint of LLMs: Continue Training is NOT All You Need to Steal A
       Model!", arXiv:2507.03014.
    """
    main, extra = correlations(owner, suspect, config)
    value = float(np.mean(list(main.values())))
    if null is not None and not isinstance(null, NullCalibration):
        null = null_from(owner, list(null), config)
    notes = []
    if max(owner.n_layers, suspect.n_layers) < config.min_layers:
        notes.append(f"profiles of {max(owner.n_layers, suspect.n_layers)} layers cannot be correlated "
                     f"(at least {config.min_layers} needed: over two points every correlation is +-1)")
    elif not math.isfinite(value):
        notes.append("a profile is constant, so its correlation is undefined")
    if null is None or null.n < 2:
        notes.append("no null distribution: " + how_to_fix(0 if null is None else null.n, config.alpha))
        return StdProfileResult(
            method=METHOD, score=value, p_value=math.nan, verdict=Verdict.INCONCLUSIVE, correlations=main,
            extra_correlations=extra, z_score=math.nan, best_possible_p=math.nan,
            null_scores=null.scores if null is not None else (), null_source=null.source if null is not None else "",
            owner_layers=owner.n_layers, suspect_layers=suspect.n_layers, notes=tuple(notes),
            owner=owner.model, suspect=suspect.model)
    best_p = null.p_value(1.0, config.alpha)
    if best_p >= config.alpha:
        notes.append(f"even an identical copy (score 1) would have p = {best_p:.3g} >= alpha = {config.alpha} "
                     f"against these {null.n} unrelated models: the null overlaps the related range or is too "
                     f"small, so this method cannot decide for this owner")
    verdict = decide(value, null, alpha=config.alpha, unrelated_above=config.unrelated_above, best_possible=1.0)
    p_value = null.p_value(value, config.alpha) if math.isfinite(value) else math.nan
    return StdProfileResult(
        method=METHOD, score=value, p_value=p_value, verdict=verdict, correlations=main,
        extra_correlations=extra, z_score=null.z_score(value) if math.isfinite(value) else math.nan,
        threshold=null.threshold(config.alpha), best_possible_p=best_p, null_scores=null.scores,
        null_source=null.source, owner_layers=owner.n_layers, suspect_layers=suspect.n_layers,
        notes=tuple(notes), null=summarize(null), owner=owner.model, suspect=suspect.model)


def pairwise_scores(profiles: Sequence[StdProfile], config: StdProfileConfig = StdProfileConfig()) -> np.ndarray:
    """Symmetric matrix of :func:`score` between every pair of profiles (1 on the diagonal)."""
    n = len(profiles)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = score(profiles[i], profiles[j], config)
    return out


# --- the method ---------------------------------------------------------------------------------


class StdProfileMethod(Method[StdProfile, StdProfileConfig, StdProfileResult]):
    """Std profiles as a registered method.

    Null: the score of the owner's profile against unrelated reference models (cached per owner
    profile); p-value empirical or Student-t prediction (``stats.calibration``), valid when the
    references are exchangeable with an unrelated suspect. Same-recipe models correlate highly,
    which the ``best_possible`` check turns into ``inconclusive`` rather than a false ``derived``.
    """

    name = METHOD
    kind = Kind.WEIGHTS
    config_cls = StdProfileConfig
    fingerprint_cls = (StdProfile,)
    best_possible = 1.0
    plain = "how the spread of attention weights changes from layer to layer"
    describe = ("per-layer std of Q/K/V/O weights, Pearson over depth; survives fine-tuning, continued "
                "training and MoE upcycling, not Q/K or V/O rescaling; same-recipe models correlate too")

    def fingerprint(self, source: Checkpoint, config: StdProfileConfig) -> StdProfile:
        return fingerprint(source, config)

    def score(self, owner_fp: StdProfile, suspect_fp: StdProfile, config: StdProfileConfig) -> float:
        return score(owner_fp, suspect_fp, config)

    def null(self, owner_fp: StdProfile, config: StdProfileConfig, references: Sequence[Path]) -> NullCalibration:
        return null_calibration(owner_fp, config, references)

    def compare(self, owner_fp: StdProfile, suspect_fp: StdProfile, *, null: NullCalibration | None,
                config: StdProfileConfig) -> StdProfileResult:
        return compare(owner_fp, suspect_fp, null=null, config=config)

    def plot(self, owner_fp: StdProfile, suspect_fp: Any, result: StdProfileResult, path: Path) -> Path | None:
        from .plot import plot_comparison

        return plot_comparison(owner_fp, suspect_fp, result, path)


STD_PROFILE = StdProfileMethod()


def verify(owner: str | Path | Checkpoint, suspect: str | Path | Checkpoint,
           config: StdProfileConfig = StdProfileConfig(), *, references: Sequence[str | Path] = ()
           ) -> StdProfileResult:
    """Does ``suspect`` descend from ``owner``? Both are model paths or saved fingerprint files.

    The null is the owner's score against ``references`` and the models of
    ``$LLM_LINEAGE_REFERENCES`` (:mod:`llm_lineage.references`); null scores are cached per owner
    profile.

    >>> verify("owner_dir", "suspect_dir", references=["other_dir", ...]).verdict   # doctest: +SKIP
    <Verdict.DERIVED: 'derived'>
    """
    return STD_PROFILE.verify(owner, suspect, config, references=references)


def null_calibration(owner: StdProfile, config: StdProfileConfig, references: Sequence[str | Path]
                     ) -> NullCalibration:
    """Scores of the owner's profile against unrelated models (computed once, then cached)."""
    models = [Path(m) for m in references if not same_file(m, owner.model)]
    key = hashlib.sha256(owner.sigma.tobytes() + repr((owner.projections, config.min_layers)).encode())

    def score_of(path: Path) -> float:
        return score(owner, fingerprint(path, config), config)

    scores = cached_null_scores(METHOD, key.hexdigest(), models, score_of)
    names = ", ".join(family(m) for m in models)
    return calibrate(scores, higher_is_related=True, models=models,
                     source=f"std-profile of {owner.name} against {len(models)} unrelated models ({names})")
