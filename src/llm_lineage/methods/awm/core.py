r"""Aligned weight matrices: unbiased linear CKA of attention forms after aligning the residual streams.

After AWM [1]_: put the two models' residual streams in one basis, then compare attention weights
layer by layer with centred kernel alignment. Here:

1. ``R``: orthogonal Procrustes between the embedding rows of the token strings both vocabularies
   share (:mod:`..alignment`). It recovers a permuted, sign-flipped or rotated residual stream
   (AWM's linear assignment with sign flips is the permutation special case).
2. Per layer, with each model's attention-norm gain folded into its input-side weights, the
   ``hidden x hidden`` forms ``M_qk = W_Q^T W_K`` and ``M_vo = W_O W_V``, per head ``h`` and
   summed over heads. Per-head Q/K (and V/O) scaling cancels in them; RoPE acts inside a head.
   The suspect's are read in the owner's basis, ``R^T M R``.
3. Unbiased linear CKA (the Song et al. 2012 HSIC estimator) of owner and aligned suspect forms,
   rows as samples (``max_rows`` seeded residual coordinates), averaged over the QK and VO forms.
   When depths differ, layers are paired by linear assignment on the layer-by-layer CKA.

``score`` is the mean CKA of the summed forms over the paired layers (AWM's statistic; head
order does not matter). Its p-value is not AWM's Z-score against constants measured on other
models. Two nulls that need no reference model, combined by Bonferroni
(``p = min(1, 2 min(p_heads, p_match))``, or the one available):

* ``p_heads``, exact: ``T = sum_l mean_h CKA(owner head h, suspect head h)`` against the same with
  the suspect's heads permuted in each layer (KV groups, and query heads within a group).
  Initialisations are exchangeable over heads and training is equivariant to permuting them, so
  under H0 (independent initialisations) the suspect is exchangeable with its head-permuted
  copies, whatever the data [2]_; ``R`` depends on the embeddings only, which no head permutation
  touches. ``p = (1 + #{T_sigma >= T}) / (n + 1)``. A thief who permutes heads removes its power
  (never its validity); it needs the same head layout.
* ``p_match``: heads matched by linear assignment twice, on the per-head QK CKA and on the per-head
  VO CKA; ``K_l`` heads are paired alike by both. A derived model pairs every head alike whatever
  head permutation was applied. If the two matchings of independent models are unrelated,
  ``P(K_l >= k) <= 1 / k!`` (fixed points of a random permutation). As for ``tracing``, that is an
  assumption, and real models trained on similar text can break it in a few layers, so the layers
  are combined as ``tracing`` combines them (:mod:`llm_lineage.stats.matching`): the median-rank
  ``K`` over the paired layers, the bound assumed for all but a quarter of the candidate layer
  pairs (Fisher's method, used before, let one such layer decide). The calibration benchmark
  measures it. With eight heads a layer can give at most 1/8!, so small models need several layers.

A null of unrelated *reference* models for the aligned score was tried and dropped: on the real
independent pairs here the aligned CKA of other-data references sits below that of independent
models trained on similar text, and 3 of 29 such pairs came out ``derived`` at 0.01. A
permutation of the *aligned* coordinates is no valid null either (0.06-0.22 observed against
about 0): the alignment fitted on embeddings also lines up some attention structure.

References
----------
.. [1] B. Zeng et al., "AWM: Aligned Weight Matrices for LLM Fingerprinting", ICLR 2026,
   arXiv:2510.06738 (code: LUMIA-Group/AWM).
.. [2] S. Zhu, A. Ahmed, R. Kuditipudi, P. Liang, "Independence Tests for Language Models",
   ICML 2025, arXiv:2502.12292.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from ...errors import ConfigError
from ...stats import NullCalibration, Verdict, verdict_of
from ...stats.matching import log10_p_matching
from ...weights import Checkpoint
from ..alignment import residual_alignment
from ..base import Kind, Method, Result
from ..pinned import PinnedWeights
from .config import AWMConfig


@dataclass(frozen=True)
class AWMFingerprint(PinnedWeights):
    """AWM reads both models' attention weights: its fingerprint points at the checkpoint."""


@dataclass(frozen=True)
class AWMResult(Result):
    """``score``: mean unbiased CKA of the aligned summed attention forms over the paired layers."""

    p_heads: float                 # exact head-permutation test (NaN when head layouts differ)
    p_match: float                 # head-matching test, Fisher over layers (NaN when layouts differ)
    head_agreements: tuple[int, ...]   # K per paired layer
    head_score: float              # mean CKA of head h against head h
    layer_pairs: tuple[tuple[int, int], ...]
    layer_cka: tuple[float, ...]
    alignment_tokens: int
    alignment_residual: float


@dataclass(frozen=True)
class _Layer:
    """Gram matrices (zero diagonal) of one layer's forms on the sampled rows."""

    whole: tuple[np.ndarray, np.ndarray]        # summed over heads: (K_qk, K_vo)
    heads: list[tuple[np.ndarray, np.ndarray]]  # per head (empty unless asked for: 7B has 32 a layer)
    n_heads: int
    n_kv: int


def _gram(x: np.ndarray) -> np.ndarray:
    gram = x @ x.T
    np.fill_diagonal(gram, 0.0)
    return gram


def _hsic(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741  (the estimator's names)
    """Song et al. (2012): unbiased HSIC of two Gram matrices with zero diagonals."""
    n = k.shape[0]
    return (float(np.sum(k * l)) + float(k.sum()) * float(l.sum()) / ((n - 1) * (n - 2))
            - 2.0 * float(k.sum(axis=0) @ l.sum(axis=0)) / (n - 2)) / (n * (n - 3))


def _cka(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    denominator = math.sqrt(max(_hsic(k, k), 0.0) * max(_hsic(l, l), 0.0))
    return _hsic(k, l) / denominator if denominator > 0 else float("nan")


def unbiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased linear CKA of two feature matrices with the same rows (samples).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(50, 8))
    >>> round(unbiased_cka(x, x @ np.linalg.qr(rng.normal(size=(8, 8)))[0]), 6)  # rotation-invariant
    1.0
    """
    return _cka(_gram(x), _gram(y))


def _layer(ckpt: Checkpoint, layer: int, rows: np.ndarray, rotation: np.ndarray | None, *,
           per_head: bool = False) -> _Layer:
    """One layer's forms, in the owner's basis when ``rotation`` is given, on residual rows ``rows``;
    the per-head Gram matrices only when ``per_head`` (they are read again for the paired layers
    rather than kept for every layer)."""
    cfg = ckpt.config
    q = ckpt.tensor("q_proj", layer, dtype=np.float64)
    k = ckpt.tensor("k_proj", layer, dtype=np.float64)
    v = ckpt.tensor("v_proj", layer, dtype=np.float64)
    o = ckpt.tensor("o_proj", layer, dtype=np.float64)
    heads, kv, head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    if q.shape[0] != heads * head_dim or k.shape[0] != kv * head_dim or kv < 1 or heads % kv \
            or o.shape[1] != heads * head_dim:
        raise ConfigError(f"{ckpt.path}: layer {layer} q_proj {q.shape} / k_proj {k.shape} / o_proj {o.shape} do not "
                          f"match {heads} heads and {kv} KV heads of size {head_dim}")
    if ckpt.has("attn_norm", layer):
        gain = ckpt.tensor("attn_norm", layer, dtype=np.float64) + cfg.norm_weight_offset
        if gain.shape == (q.shape[1],):
            q, k, v = q * gain, k * gain, v * gain
    if rotation is not None:  # input-side rows and output-side columns both move by the residual map
        q, k, v, o = q @ rotation, k @ rotation, v @ rotation, rotation.T @ o
    group = heads // kv
    qk_sum, vo_sum, grams = 0.0, 0.0, []
    for h in range(heads):
        g = h // group
        qh, kh = q[h * head_dim:(h + 1) * head_dim], k[g * head_dim:(g + 1) * head_dim]
        vh, oh = v[g * head_dim:(g + 1) * head_dim], o[:, h * head_dim:(h + 1) * head_dim]
        qk = qh[:, rows].T @ kh          # rows of W_Q^T W_K
        vo = oh[rows] @ vh               # rows of W_O W_V
        if per_head:
            grams.append((_gram(qk), _gram(vo)))
        qk_sum, vo_sum = qk_sum + qk, vo_sum + vo
    return _Layer((_gram(np.asarray(qk_sum)), _gram(np.asarray(vo_sum))), grams, heads, kv)


def _pair_cka(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    return float(np.nanmean([_cka(a[0], b[0]), _cka(a[1], b[1])]))


def _head_permutation(n_heads: int, n_kv: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of heads that keeps KV groups together (a symmetry of GQA)."""
    group = n_heads // n_kv
    order = []
    for g in rng.permutation(n_kv):
        order += list(g * group + rng.permutation(group))
    return np.asarray(order)


def _head_tables(owner: _Layer, suspect: _Layer) -> tuple[np.ndarray, np.ndarray]:
    """Per-head CKA, owner heads x suspect heads, for the QK and the VO form (-1 where undefined)."""
    tables = []
    for form in (0, 1):
        mine = [math.sqrt(max(_hsic(h[form], h[form]), 0.0)) for h in owner.heads]
        theirs = [math.sqrt(max(_hsic(h[form], h[form]), 0.0)) for h in suspect.heads]
        table = np.full((len(mine), len(theirs)), -1.0)
        for i, a in enumerate(owner.heads):
            for j, b in enumerate(suspect.heads):
                if mine[i] * theirs[j] > 0:
                    table[i, j] = _hsic(a[form], b[form]) / (mine[i] * theirs[j])
        tables.append(table)
    return tables[0], tables[1]


def head_permutation_p(tables: list[tuple[np.ndarray, np.ndarray]], suspect: list[_Layer], n_permutations: int,
                       rng: np.random.Generator) -> tuple[float, float]:
    """``(mean head-to-head CKA, exact p-value)`` against the suspect's heads permuted per layer."""
    both = [(qk + vo) / 2 for qk, vo in tables]
    observed = float(np.mean([np.mean(np.diag(t)) for t in both]))
    at_least = 0
    for _ in range(n_permutations):
        total = float(np.mean([np.mean(t[np.arange(len(t)), _head_permutation(len(t), s.n_kv, rng)])
                               for t, s in zip(both, suspect, strict=True)]))
        at_least += total >= observed
    return observed, (1 + at_least) / (n_permutations + 1)


def head_matching_p(tables: list[tuple[np.ndarray, np.ndarray]], n_candidates: int) -> tuple[float, tuple[int, ...]]:
    """The matching p-value over the paired layers (``n_candidates`` layer pairs could have been
    paired), ``K_l`` the heads both matchings pair alike."""
    agreements = []
    for qk, vo in tables:
        by_qk = linear_sum_assignment(qk, maximize=True)[1]
        by_vo = linear_sum_assignment(vo, maximize=True)[1]
        agreements.append(int(np.sum(by_qk == by_vo)))
    return 10.0 ** log10_p_matching(agreements, n_candidates), tuple(agreements)


def aligned_cka(owner: Checkpoint, suspect: Checkpoint, config: AWMConfig, *, exact: bool = True) -> AWMResult:
    """The score and both p-values (see the module docstring); one layer of each model read at a time."""
    if owner.n_layers < 1 or suspect.n_layers < 1:
        raise ConfigError(f"{owner.path} or {suspect.path} has no layers to compare")
    rotation, n_tokens, residual = residual_alignment(owner, suspect, config.n_tokens)
    rng = np.random.default_rng(config.seed)
    hidden = owner.config.hidden_size
    rows = np.sort(rng.choice(hidden, size=min(config.max_rows, hidden), replace=False))
    owner_layers = [_layer(owner, i, rows, None) for i in range(owner.n_layers)]
    suspect_layers = [_layer(suspect, j, rows, rotation) for j in range(suspect.n_layers)]
    if owner.n_layers == suspect.n_layers:
        pairs = [(i, i) for i in range(owner.n_layers)]
    else:
        matrix = np.array([[_pair_cka(a.whole, b.whole) for b in suspect_layers] for a in owner_layers])
        rows_, cols = linear_sum_assignment(np.nan_to_num(matrix, nan=-1.0), maximize=True)
        pairs = [(int(r), int(c)) for r, c in zip(rows_, cols, strict=True)]
    paired = [(owner_layers[i], suspect_layers[j]) for i, j in pairs]
    per_layer = [_pair_cka(a.whole, b.whole) for a, b in paired]
    score = float(np.nanmean(per_layer))
    same_heads = all(a.n_heads == b.n_heads and a.n_kv == b.n_kv for a, b in paired)
    head_score, p_heads, p_match = math.nan, math.nan, math.nan
    agreements: tuple[int, ...] = ()
    n_candidates = owner.n_layers * (1 if owner.n_layers == suspect.n_layers else suspect.n_layers)
    if exact and same_heads:
        tables = [_head_tables(_layer(owner, i, rows, None, per_head=True),
                               _layer(suspect, j, rows, rotation, per_head=True)) for i, j in pairs]
        head_score, p_heads = head_permutation_p(tables, [b for _, b in paired], config.n_permutations, rng)
        p_match, agreements = head_matching_p(tables, n_candidates)
    available = [p for p in (p_heads, p_match) if math.isfinite(p)]
    p_value = min(1.0, len(available) * min(available)) if available else math.nan
    verdict = verdict_of(p_value, alpha=config.alpha, unrelated_above=config.unrelated_above)
    notes = []
    if not math.isfinite(p_value):
        notes.append("the two models' attention heads are laid out differently: no head-level test applies "
                     "(the aligned score is reported, uncalibrated)")
    if owner.n_layers != suspect.n_layers:
        notes.append(f"depths differ ({owner.n_layers} vs {suspect.n_layers}): layers paired by linear assignment")
    if agreements and verdict is Verdict.UNRELATED:
        n_heads = min(a.n_heads for a, _ in paired)
        floor = 10.0 ** log10_p_matching([n_heads] * len(agreements), n_candidates)
        if 2 * floor >= config.alpha:  # even every head paired alike could not pass: no evidence either way
            verdict = Verdict.INCONCLUSIVE
            notes.append(f"{n_heads} heads in {len(agreements)} layers: the matching test cannot reach p < "
                         f"{config.alpha} even for a copy, so a head-permuted copy would not show here")
    return AWMResult(
        method="awm", score=score, p_value=p_value, verdict=verdict, notes=tuple(notes), owner=str(owner.path),
        suspect=str(suspect.path), p_heads=p_heads, p_match=p_match, head_agreements=agreements,
        head_score=head_score, layer_pairs=tuple(pairs), layer_cka=tuple(per_layer), alignment_tokens=n_tokens,
        alignment_residual=residual)


class AWMMethod(Method[AWMFingerprint, AWMConfig, AWMResult]):
    """Aligned-weights CKA as a registered method; its nulls are built in from the suspect's own
    heads, so ``references`` are not used."""

    name = "awm"
    kind = Kind.WEIGHTS
    config_cls = AWMConfig
    fingerprint_cls = (AWMFingerprint,)
    exact_null = "exact: permutations and matchings of the suspect's attention heads"
    plain = "the attention weights, after putting both models' internal coordinates in one basis"
    assumption = ("the exact test: only that training is equivariant to permuting attention heads. The matching "
                  "test: that for independent models QK- and VO-matchings of heads agree no more than random "
                  "permutations in three quarters of the layers")
    best_possible = 1.0
    describe = ("aligned weight matrices (AWM): Procrustes-aligned residual streams, unbiased CKA of the Q^T K and "
                "O V forms per layer; exact head-permutation p-value and head matching; no reference models")

    def fingerprint(self, source: Checkpoint, config: AWMConfig) -> AWMFingerprint:
        return AWMFingerprint.of(source)

    def score(self, owner_fp: AWMFingerprint, suspect_fp: AWMFingerprint, config: AWMConfig) -> float:
        return aligned_cka(owner_fp.checkpoint(), suspect_fp.checkpoint(), config, exact=False).score

    def compare(self, owner_fp: AWMFingerprint, suspect_fp: AWMFingerprint, *, null: NullCalibration | None,
                config: AWMConfig) -> AWMResult:
        return aligned_cka(owner_fp.checkpoint(), suspect_fp.checkpoint(), config)
AWM = AWMMethod()


def verify(owner: str | Path | Checkpoint, suspect: str | Path | Checkpoint,
           config: AWMConfig | None = None) -> AWMResult:
    """Do the suspect's attention weights, aligned to the owner's residual basis, match the owner's?

    >>> verify("owner_dir", "suspect_dir").verdict     # doctest: +SKIP
    <Verdict.DERIVED: 'derived'>
    """
    return AWM.verify(owner, suspect, config)
