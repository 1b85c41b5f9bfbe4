r"""Independence test on FFN units: was the suspect trained from an initialisation independent of the owner's?

Null hypothesis H0: the suspect was trained from a random initialisation independent of the
owner's. Standard initialisations are exchangeable over the FFN units of a layer and training
(SGD/Adam on any data) is equivariant to permuting them, so under H0 the suspect's units carry no
memory of the owner's unit order: ``B`` and ``sigma B`` have the same distribution for every
permutation ``sigma`` of each layer's units, whatever data either model saw [1]_.

Both models' residual streams are first put in one basis: ``R`` is the orthogonal Procrustes map
between their embedding rows of the same token strings (a fold-and-rotate attack moves the whole
residual stream; ``R`` undoes it and is untouched by any permutation of FFN units). Each model's
FFN norm gain is folded into its input weights. For layer l, ``C^gate`` and ``C^up`` are the
cosines between the owner's and the suspect's aligned gate (and up) rows: ``max_units`` owner
units (a seeded subset, fixed before either model is read) against every suspect unit.

Two statistics, combined by Bonferroni (``p = min(1, 2 min(p_exact, p_match))``):

1. **Exact permutation test** (the paper's PERMTEST, constrained setting). With unit ``i`` of the
   owner compared with unit ``i`` of the suspect::

       T = sum_l mean_i (C^gate_l[i, i] + C^up_l[i, i]) / 2

   against the same statistic with each layer's suspect units randomly permuted, ``n`` times:
   ``p_exact = (1 + #{T_sigma >= T}) / (n + 1)``. Under H0 ``T`` and every ``T_sigma`` are
   exchangeable, so this p-value is exact at any sample size. It needs equal depths and widths,
   and a thief who permutes units removes its power (never its validity).
2. **Matching test** (the paper's MATCH, unconstrained setting). Units are matched by linear
   assignment twice, once on ``C^gate`` (``pi_gate``) and once on ``C^up`` (``pi_up``); ``K`` is
   the number of owner units both matchings send to the same suspect unit. A derived model gives
   ``K`` near the number of units in *every* layer, whatever permutation, rotation or per-unit
   scaling was applied. No permutation null exists for ``K`` (it is invariant to the suspect's
   unit order), so its p-value rests on an assumption: for a layer pair of independent models,
   ``pi_up`` behaves like a uniform random injection given ``pi_gate``, which bounds
   ``P(K >= k) <= 1 / k!`` (fixed points of a random permutation).

   **Real pairs break that assumption in some layers.** Independent production models trained on
   similar text grow units that read the same token directions, and the residual alignment is
   built from those very embeddings: SmolLM2-135M against Qwen2.5-Coder-0.5B reached K = 43 of
   1,024 in the first layer and 20-78 in the last three (0-5 between), and a test that took the
   best layer (``min_l 1/K_l!``) called them derived at p = 6e-113. So the test uses the layer
   pairs' *median-rank* agreement and assumes the bound only for most of them:

   * ``M`` layer pairs are tested; ``k*`` is the ``m``-th largest ``K`` with ``m = ceil(M / 2)``;
   * assumption: the bound fails for at most ``r = floor(M / 4)`` of the ``P`` candidate layer
     pairs (the edge layers above);
   * then ``p_match = P / ((m - r) k*!)`` by Markov's inequality, whichever pairs were tested and
     however they were chosen (:mod:`llm_lineage.stats.matching`).

   Equal depths pair layer ``l`` with layer ``l`` (``P = M = L``). Different depths (a
   depth-pruned or stacked copy) pair layers by an order-preserving alignment chosen on a cheap
   screen (greedy gate/up agreement of ``screen_units`` owner units against every suspect unit,
   one pass over each model), then assign only the chosen pairs (``P = L_owner x L_suspect``).
   ``benchmarks/calibration.py`` measures the assumption on real independent pairs.

A related model keeps its embeddings, so its residual streams align well; when they align as
poorly as an unrelated model's (``max_alignment_residual``), no p-value here is called
``derived``: the verdict is ``inconclusive`` with a note.

``score`` is ``-log10 p`` (higher is related).

References
----------
.. [1] S. Zhu, A. Ahmed, R. Kuditipudi, P. Liang, "Independence Tests for Language Models",
   ICML 2025, arXiv:2502.12292 (code: salzhu/model-tracing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ...errors import ConfigError, KeyFileError, UnsupportedFormat
from ...stats import NullCalibration, Verdict, verdict_of
from ...stats.matching import log10_p_matching, robust_agreement
from ...weights import Checkpoint
from ..alignment import residual_alignment
from ..base import Kind, Method, Result
from ..pinned import PinnedWeights
from .config import TracingConfig
from .stored import stored_alignment, stored_arrays


@dataclass(frozen=True, eq=False)  # array fields
class TracingFingerprint(PinnedWeights):
    """A pointer to the weights (the full test, while they are there) and the stored units and
    alignment rows (:mod:`.stored`) that keep the exact tests possible once they are gone."""

    n_units: int = 0
    unit_ids: np.ndarray | None = None        # (units,) int64
    gate: np.ndarray | None = None            # (layers, units, hidden) float16, unit rows
    up: np.ndarray | None = None
    align_rows: np.ndarray | None = None      # (tokens, hidden) float16 embedding rows
    align_strings: tuple[str, ...] = ()

    def source(self) -> Checkpoint | TracingFingerprint:
        """The weights while they are there and unchanged, else this fingerprint's stored units."""
        try:
            return self.checkpoint()
        except KeyFileError:
            if self.gate is None:
                raise KeyFileError(f"tracing needs the weights of {self.model}, which are gone or changed, and "
                                   "this fingerprint stores no units (written before version 0.4)",
                                   hint="register the model again where its weights are") from None
            return self

    def units(self) -> Units:
        assert self.gate is not None and self.up is not None and self.unit_ids is not None
        gate, up = self.gate, self.up
        return Units(self.model, gate.shape[0], self.n_units, self.unit_ids,
                     lambda layer: (gate[layer].astype(np.float32), up[layer].astype(np.float32)))


@dataclass(frozen=True)
class TracingResult(Result):
    """``score``: -log10 of the combined p-value."""

    p_exact: float                 # permutation test, NaN when depths or widths differ
    p_match: float                 # matching test, Bonferroni over the layer pairs tried
    layer_pairs: tuple[tuple[int, int], ...]   # (owner layer, suspect layer) of each per-layer test
    agreements: tuple[int, ...]    # K per layer pair: units both matchings send to one partner
    robust_agreement: int          # k*, the median-rank K the matching p-value rests on
    units_tested: int              # owner units per layer
    alignment_tokens: int          # token rows behind the residual alignment
    alignment_residual: float      # ||E_suspect R - E_owner|| / ||E_owner|| after Procrustes
    unit_cosine: float = math.nan  # mean cosine of owner unit i and suspect unit i (equal shapes only)
    rotated: bool = False          # the residual map R is far from the identity (a rotated stream)


# --- reading ------------------------------------------------------------------------------------


def _unit_vectors(ckpt: Checkpoint, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Each FFN unit's two input-side vectors in residual space, norm gain folded, float32 (a 7B
    layer's gate and up are 180 MB each; cosines need no more precision).

    Gated MLPs: gate and up rows. Plain MLPs: fc_in rows and fc_out columns. MoE: expert 0 (a
    fixed choice, so the test stays valid; an upcycled model's experts start as copies).
    """
    expert = 0 if ckpt.is_moe else None
    if ckpt.gated_mlp:
        first = ckpt.tensor("gate_proj", layer, expert=expert)
        second = ckpt.tensor("up_proj", layer, expert=expert)
    elif ckpt.has("fc_in", layer):
        first = ckpt.tensor("fc_in", layer)
        second = np.ascontiguousarray(ckpt.tensor("fc_out", layer).T)
    else:
        raise UnsupportedFormat(f"{ckpt.path}: layer {layer} has no FFN weights the tracing test can read")
    # writable float32 copies only where the store handed out a read-only view
    first, second = (np.require(m, np.float32, ["C", "W"]) for m in (first, second))
    if ckpt.has("mlp_norm", layer):
        gain = ckpt.tensor("mlp_norm", layer) + np.float32(ckpt.config.norm_weight_offset)
        if gain.shape == (first.shape[1],):
            first *= gain[None, :]
            if ckpt.gated_mlp:
                second *= gain[None, :]
    return first, second


def _normalised(rows: np.ndarray) -> np.ndarray:
    """Unit rows, in place when ``rows`` is a temporary (zero rows, e.g. pruned units, stay zero)."""
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-30)
    return rows


# --- the statistics -----------------------------------------------------------------------------


def _match(cosines: np.ndarray) -> np.ndarray:
    """Suspect unit matched to each owner unit (rows), maximising total cosine."""
    rows, cols = linear_sum_assignment(cosines, maximize=True)
    out = np.full(cosines.shape[0], -1, dtype=np.int64)
    out[rows] = cols
    return out


@dataclass(frozen=True)
class _LayerPair:
    owner_layer: int
    suspect_layer: int
    agreement: int
    diagonal: np.ndarray | None       # C^gate[i, i] + C^up[i, i] over the owner units, when widths match
    cosines: np.ndarray               # (C^gate + C^up) / 2, owner units x suspect units


def _aligned(units: tuple[np.ndarray, np.ndarray], rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A suspect layer's unit rows in the owner's residual basis, normalised."""
    return (_normalised(units[0].astype(np.float32, copy=False) @ rotation),
            _normalised(units[1].astype(np.float32, copy=False) @ rotation))


def _layer_pair(owner_units: tuple[np.ndarray, np.ndarray], suspect_units: tuple[np.ndarray, np.ndarray],
                positions: np.ndarray | None, owner_layer: int, suspect_layer: int) -> _LayerPair:
    """``owner_units``: the owner's tested rows, normalised; ``suspect_units``: the suspect's held units,
    aligned; ``positions``: each owner unit's own index among the suspect's columns (None: no exact test)."""
    cos = [(own @ theirs.T).astype(np.float64) for own, theirs in zip(owner_units, suspect_units, strict=True)]
    by_gate, by_up = _match(cos[0]), _match(cos[1])
    agreement = int(np.sum((by_gate == by_up) & (by_gate >= 0)))
    both = (cos[0] + cos[1]) / 2
    diagonal = both[np.arange(len(positions)), positions] if positions is not None else None
    return _LayerPair(owner_layer, suspect_layer, agreement, diagonal, both)


def permutation_p_value(pairs: list[_LayerPair], positions: np.ndarray, n_permutations: int,
                        rng: np.random.Generator) -> float:
    """Exact p-value of ``T = sum_l mean_i C_l[i, i]`` against each layer's suspect units permuted.

    ``positions``: each owner unit's own index among the suspect's columns; a uniformly random
    permutation of the suspect's columns, seen at those positions, gives each unit its partner.
    """
    observed = sum(float(np.mean(p.diagonal)) for p in pairs if p.diagonal is not None)
    rows = np.arange(len(positions))
    totals = np.zeros(n_permutations)
    for pair in pairs:
        n_suspect = pair.cosines.shape[1]
        partners = rng.permuted(np.tile(np.arange(n_suspect), (n_permutations, 1)), axis=1)[:, positions]
        totals += pair.cosines[rows[None, :], partners].mean(axis=1)
    return (1 + int(np.sum(totals >= observed))) / (n_permutations + 1)


def _screen(owner: list[tuple[np.ndarray, np.ndarray]], suspect: Units, rotation: np.ndarray) -> np.ndarray:
    """``S[l, m]``: share of the owner's screened units of layer ``l`` whose best gate partner and best up
    partner in suspect layer ``m`` are one unit (one read of each suspect layer; no assignment solved)."""
    table = np.zeros((len(owner), suspect.n_layers))
    for other in range(suspect.n_layers):
        gate, up = _aligned(suspect.read(other), rotation)
        for layer, (own_gate, own_up) in enumerate(owner):
            same = np.argmax(own_gate @ gate.T, axis=1) == np.argmax(own_up @ up.T, axis=1)
            table[layer, other] = float(np.mean(same))
        del gate, up
    return table


def monotone_pairs(scores: np.ndarray) -> list[tuple[int, int]]:
    """Order-preserving layer pairs (both indices strictly increasing) maximising the summed score.

    >>> monotone_pairs(np.array([[1., 0, 0], [0, 0, 1], [0, 1, 0]]))
    [(0, 0), (1, 2)]
    """
    n, m = scores.shape
    best = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best[i, j] = max(best[i - 1, j], best[i, j - 1], best[i - 1, j - 1] + scores[i - 1, j - 1])
    pairs, i, j = [], n, m
    while i > 0 and j > 0:
        if best[i, j] == best[i - 1, j]:
            i -= 1
        elif best[i, j] == best[i, j - 1]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return pairs[::-1]


@dataclass(frozen=True)
class Units:
    """One model's FFN units as the test reads them: every unit of a checkpoint, or the units a stored
    fingerprint holds (:mod:`.stored`). ``read(layer)`` gives the held units' (gate, up) rows, unit
    length, in the model's own residual basis."""

    name: str
    n_layers: int
    n_units: int
    held: np.ndarray | None                                   # global unit indices held (None: all)
    read: Callable[[int], tuple[np.ndarray, np.ndarray]]


def checkpoint_units(ckpt: Checkpoint) -> Units:
    def read(layer: int) -> tuple[np.ndarray, np.ndarray]:
        gate, up = _unit_vectors(ckpt, layer)
        return _normalised(gate), _normalised(up)

    if ckpt.n_layers < 1:
        raise ConfigError(f"{ckpt.path} has no layers to test")
    return Units(str(ckpt.path), ckpt.n_layers, int(ckpt.shape("gate_proj" if ckpt.gated_mlp else "fc_in", 0)[0])
                 if not ckpt.is_moe else _unit_vectors(ckpt, 0)[0].shape[0], None, read)


def trace(owner: Checkpoint, suspect: Checkpoint, config: TracingConfig) -> TracingResult:
    """Run both tests on two checkpoints, one layer of each in memory at a time (see the module docstring)."""
    rotation, n_tokens, residual = residual_alignment(owner, suspect, config.n_tokens)
    return trace_units(checkpoint_units(owner), checkpoint_units(suspect), rotation, n_tokens, residual, config)


def trace_units(owner: Units, suspect: Units, rotation: np.ndarray, n_tokens: int, residual: float,
                config: TracingConfig) -> TracingResult:
    """Both tests on two models' units (checkpoints or stored fingerprints), given the residual map."""
    rotation = rotation.astype(np.float32, copy=False)
    rng = np.random.default_rng(config.seed)
    # the owner's tested units: a seeded subset of every unit, or those a fingerprint stored
    if owner.held is None:
        owner_ids = np.sort(rng.choice(owner.n_units, size=min(config.max_units, owner.n_units), replace=False))
        pick: np.ndarray | slice = owner_ids
    else:
        owner_ids, pick = owner.held, slice(None)

    def owner_rows(layer: int) -> tuple[np.ndarray, np.ndarray]:
        gate, up = owner.read(layer)
        return gate[pick], up[pick]

    same_depth = owner.n_layers == suspect.n_layers
    if same_depth:
        layer_pairs = [(layer, layer) for layer in range(owner.n_layers)]
        n_candidates = owner.n_layers
    else:
        screened = [tuple(rows[: config.screen_units] for rows in owner_rows(layer)) for layer in range(owner.n_layers)]
        # a small bonus per pair: every layer the shorter model has is paired, not only those the screen favours
        layer_pairs = monotone_pairs(_screen(screened, suspect, rotation) + 1e-3)  # type: ignore[arg-type]
        n_candidates = owner.n_layers * suspect.n_layers
    # where each owner unit sits among the suspect's columns, for the exact test (equal widths only)
    suspect_ids = np.arange(suspect.n_units) if suspect.held is None else suspect.held
    positions = None
    if same_depth and suspect.n_units == owner.n_units and np.all(np.isin(owner_ids, suspect_ids)):
        positions = np.searchsorted(suspect_ids, owner_ids)
    pairs: list[_LayerPair] = []
    for layer, other in layer_pairs:
        units = suspect.read(other)
        if units[0].shape[1] != rotation.shape[0]:
            raise UnsupportedFormat(f"{suspect.name}: layer {other} FFN {units[0].shape} cannot be compared "
                                    f"with the owner's hidden size {rotation.shape[1]}")
        pairs.append(_layer_pair(owner_rows(layer), _aligned(units, rotation), positions, layer, other))
        del units
    agreements = [p.agreement for p in pairs]
    log10_match = log10_p_matching(agreements, n_candidates)
    p_exact = math.nan
    if positions is not None:
        p_exact = permutation_p_value(pairs, positions, config.n_permutations, rng)
    if math.isnan(p_exact):
        log10_p = log10_match
    else:
        log10_p = min(0.0, math.log10(2.0) + min(math.log10(p_exact), log10_match))
    p_value = 10.0 ** log10_p
    verdict = verdict_of(p_value, alpha=config.alpha, unrelated_above=config.unrelated_above)
    notes = []
    if not same_depth:
        notes.append(f"depths differ ({owner.n_layers} vs {suspect.n_layers}): {len(pairs)} layer pairs in order, "
                     f"chosen by a screen; the matching p-value counts all {n_candidates} candidates; "
                     "no exact permutation test")
    if owner.held is not None or suspect.held is not None:
        notes.append(f"from stored fingerprints: {len(owner_ids)} owner units a layer against the suspect's "
                     f"{'stored' if suspect.held is not None else 'every'} unit")
    if residual > config.max_alignment_residual:
        notes.append(f"the residual streams align as poorly as unrelated models' do (relative residual "
                     f"{residual:.2f} > {config.max_alignment_residual}): a related model keeps its embeddings")
        if verdict is Verdict.DERIVED:
            verdict = Verdict.INCONCLUSIVE
            notes.append("not called derived on so poor an alignment, whatever the p-value")
    return TracingResult(
        method="tracing", score=-log10_p, p_value=p_value, verdict=verdict, threshold=-math.log10(config.alpha),
        notes=tuple(notes), owner=owner.name, suspect=suspect.name, log10_p=log10_p, p_exact=p_exact,
        p_match=10.0 ** log10_match, layer_pairs=tuple((p.owner_layer, p.suspect_layer) for p in pairs),
        agreements=tuple(agreements), robust_agreement=robust_agreement(agreements)[0],
        units_tested=len(owner_ids), alignment_tokens=n_tokens, alignment_residual=residual,
        unit_cosine=float(np.mean([np.mean(p.diagonal) for p in pairs if p.diagonal is not None]))
        if math.isfinite(p_exact) else math.nan,
        rotated=bool(rotation.shape[0] == rotation.shape[1]
                     and np.linalg.norm(rotation - np.eye(len(rotation))) > 0.5 * math.sqrt(len(rotation))))


class TracingMethod(Method[TracingFingerprint, TracingConfig, TracingResult]):
    """The independence test as a registered method. Its null is exact and built in, so
    ``references`` are not used: no reference model is needed for a valid p-value."""

    name = "tracing"
    kind = Kind.WEIGHTS
    config_cls = TracingConfig
    fingerprint_cls = (TracingFingerprint,)
    exact_null = "exact: permutations of the suspect's FFN units"
    plain = "the feed-forward units of both models, matched one to one (an independence test)"
    assumption = ("the exact test: only that training is equivariant to permuting FFN units (true of SGD and Adam). "
                  "The matching test: that for independent models gate- and up-matchings agree no more than random "
                  "permutations in three quarters of the layer pairs (measured on real pairs)")
    describe = ("independence test on FFN units (Zhu et al. 2025): exact permutation p-value, plus unit "
                "matching that survives permutation, rotation and scaling; needs no reference models")

    def fingerprint(self, source: Checkpoint, config: TracingConfig) -> TracingFingerprint:
        pin = PinnedWeights.of(source)
        return TracingFingerprint(pin.model, pin.identity, pin.config, **stored_arrays(source, config))

    def score(self, owner_fp: TracingFingerprint, suspect_fp: TracingFingerprint, config: TracingConfig) -> float:
        return self.compare(owner_fp, suspect_fp, null=None, config=config).score

    def compare(self, owner_fp: TracingFingerprint, suspect_fp: TracingFingerprint, *,
                null: NullCalibration | None, config: TracingConfig) -> TracingResult:
        return compare_sources(owner_fp.source(), suspect_fp.source(), config)

    def verify(self, owner: str | Path | Checkpoint, suspect: Any, config: TracingConfig | None = None, *,
               references: Sequence[str | Path] = ()) -> TracingResult:
        """Models are read directly (every unit, not the stored ones); fingerprint files by what they hold."""
        config = config if config is not None else self.default_config()
        return compare_sources(self._source(owner), self._source(suspect), config)

    def _source(self, model: Any) -> Checkpoint | TracingFingerprint:
        from ...weights import open_checkpoint

        if isinstance(model, Checkpoint):
            return model
        stored = self.load_fingerprint(model)
        return stored.source() if stored is not None else open_checkpoint(model)


def compare_sources(owner: Checkpoint | TracingFingerprint, suspect: Checkpoint | TracingFingerprint,
                    config: TracingConfig) -> TracingResult:
    """The test on weights where both are there, else on what the fingerprints stored."""
    if isinstance(owner, Checkpoint) and isinstance(suspect, Checkpoint):
        return trace(owner, suspect, config)
    rotation, n_tokens, residual = stored_alignment(owner, suspect)

    def units(side: Checkpoint | TracingFingerprint) -> Units:
        return checkpoint_units(side) if isinstance(side, Checkpoint) else side.units()

    return trace_units(units(owner), units(suspect), rotation, n_tokens, residual, config)


TRACING = TracingMethod()


def verify(owner: str | Path | Checkpoint, suspect: str | Path | Checkpoint,
           config: TracingConfig | None = None) -> TracingResult:
    """Was ``suspect`` trained from an initialisation independent of ``owner``'s? (p-value of that null)

    >>> verify("owner_dir", "suspect_dir").p_value     # doctest: +SKIP
    1e-300
    """
    return TRACING.verify(owner, suspect, config)
