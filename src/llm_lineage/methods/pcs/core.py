r"""Parameter cosine similarity (PCS): one global cosine over same-shaped parameter pairs.

For the weight matrices both checkpoints hold under the same role, layer and shape::

    PCS = sum_p <W_p, W'_p> / sqrt(sum_p ||W_p||^2 * sum_p ||W'_p||^2)

streamed one tensor pair at a time in float64. PCS is the HuRef paper's baseline: high for a
fine-tuned copy, near zero for an independent model, and broken by any permutation or rotation
of the hidden units, which is what the invariant terms (:mod:`..huref`) are for.

References
----------
.. [1] B. Zeng et al., "HuRef: HUman-REadable Fingerprint for Large Language Models",
   NeurIPS 2024, Sec. 3 (parameter cosine similarity).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import NonFiniteWeights
from ...references import how_to_fix
from ...stats import NullCalibration, calibrate, decide, summarize
from ...stats.nulls import cached_null_scores
from ...weights import Checkpoint, open_checkpoint
from ..base import Kind, Method, Result
from ..pinned import PinnedWeights
from .config import PCSConfig


@dataclass(frozen=True)
class PCSFingerprint(PinnedWeights):
    """PCS needs both models' weights: its fingerprint points at the checkpoint and pins its files."""


@dataclass(frozen=True)
class PCSResult(Result):
    """``score`` is the global cosine, in [-1, 1]."""

    z_score: float
    role_cosines: dict[str, float]   # per role, pooled over layers
    n_pairs: int                  # tensor pairs of equal role and shape
    n_parameters: int             # parameters in those pairs (per model)


_BLOCK = 1 << 22  # elements widened to float64 at a time (32 MB)


def cosines(owner: Checkpoint, suspect: Checkpoint, *, include_vectors: bool = False
            ) -> tuple[float, dict[str, float], int, int]:
    """Global cosine, per-role cosines, number of pairs and of parameters per model."""
    theirs = {(r.role, r.layer, r.expert): r for r in suspect.roles()}
    sums: dict[str, np.ndarray] = {}  # role -> [dot, |a|^2, |b|^2]
    n_pairs = n_params = 0
    for info in owner.roles():
        other = theirs.get((info.role, info.layer, info.expert))
        if other is None or other.shape != info.shape or (len(info.shape) < 2 and not include_vectors):
            continue
        # read losslessly (float32 unless stored as float64), summed in float64 a block at a time:
        # two 7B embeddings in float64 at once took 2.9 GB
        a = owner.store.get(info.key, dtype=owner.lossless_dtype).ravel()
        b = suspect.store.get(other.key, dtype=suspect.lossless_dtype).ravel()
        acc = sums.setdefault(info.role, np.zeros(3))
        with np.errstate(invalid="ignore", over="ignore"):  # a NaN or inf is reported just below
            for start in range(0, a.size, _BLOCK):
                x = a[start:start + _BLOCK].astype(np.float64)
                y = b[start:start + _BLOCK].astype(np.float64)
                acc += (x @ y, x @ x, y @ y)
        if not np.isfinite(acc).all():  # read past the checkpoint gate, so checked here
            mine = not np.isfinite(a.sum(dtype=np.float64))
            where, key = (owner.path, info.key) if mine else (suspect.path, other.key)
            raise NonFiniteWeights(f"{where}: {info.role} ({key}) holds NaN or inf values")
        n_pairs += 1
        n_params += a.size
        del a, b
    if not sums:
        return float("nan"), {}, 0, 0
    total = np.sum(list(sums.values()), axis=0)
    role_cos = {role: float(s[0] / np.sqrt(s[1] * s[2])) if s[1] * s[2] > 0 else float("nan")
                for role, s in sums.items()}
    score = float(total[0] / np.sqrt(total[1] * total[2])) if total[1] * total[2] > 0 else float("nan")
    return score, role_cos, n_pairs, n_params


class PCSMethod(Method[PCSFingerprint, PCSConfig, PCSResult]):
    """Parameter cosine similarity as a registered method: the contract's smallest example.

    Null: PCS of the owner with reference models unrelated to it (``Method.null``: scored one at a
    time, the ones this method cannot pair left out), calibrated by ``stats.calibrate``. The
    p-value is valid when the references are exchangeable with an unrelated suspect; with fewer
    than three the verdict is ``inconclusive``.
    """

    name = "pcs"
    kind = Kind.WEIGHTS
    config_cls = PCSConfig
    fingerprint_cls = (PCSFingerprint,)
    best_possible = 1.0
    plain = "the cosine between same-shaped weight matrices"
    describe = ("global cosine of same-shaped weight matrices; survives light fine-tuning, broken by any "
                "permutation, rotation or rescaling of hidden units")

    def fingerprint(self, source: Checkpoint, config: PCSConfig) -> PCSFingerprint:
        return PCSFingerprint.of(source)

    def score(self, owner_fp: PCSFingerprint, suspect_fp: PCSFingerprint, config: PCSConfig) -> float:
        return cosines(owner_fp.checkpoint(), suspect_fp.checkpoint(), include_vectors=config.include_vectors)[0]

    def null(self, owner_fp: PCSFingerprint, config: PCSConfig, references: Sequence[Path], *,
             n_parameters: int | None = None) -> NullCalibration:
        """PCS of the owner with each reference; with ``n_parameters``, only the references paired
        on as many parameters as the suspect was. A cosine over the embeddings alone and one over
        every block matrix are different statistics: mixing them once called an independent real
        model derived at p = 1e-5."""
        owner = owner_fp.checkpoint()

        def score(path: Path) -> float:
            value, _, _, n = cosines(owner, open_checkpoint(path), include_vectors=config.include_vectors)
            return value if n_parameters is None or n == n_parameters else float("nan")

        key = hashlib.sha256(f"{owner_fp.identity}:{config.include_vectors}:{n_parameters}".encode()).hexdigest()
        scores = cached_null_scores("pcs", key, references, score, use_cache=config.cache)
        return calibrate(scores, source="PCS of the owner with unrelated models paired on the same tensors",
                         models=references)

    def verify(self, owner: str | Path | Checkpoint, suspect: Any, config: PCSConfig | None = None, *,
               references: Sequence[str | Path] = ()) -> PCSResult:
        """The template, with the null restricted to references paired on the suspect's tensors."""
        from ...references import reference_models

        config = config if config is not None else self.default_config()
        owner_fp, suspect_fp = self.fingerprint_of(owner, config), self.fingerprint_of(suspect, config)
        pair = cosines(owner_fp.checkpoint(), suspect_fp.checkpoint(), include_vectors=config.include_vectors)
        models = reference_models(extra=references, exclude=[Path(owner_fp.model), Path(suspect_fp.model)])
        null = self.null(owner_fp, config, models, n_parameters=pair[3])
        return self._result(owner_fp, suspect_fp, pair, null, config)

    def compare(self, owner_fp: PCSFingerprint, suspect_fp: PCSFingerprint, *, null: NullCalibration | None,
                config: PCSConfig) -> PCSResult:
        pair = cosines(owner_fp.checkpoint(), suspect_fp.checkpoint(), include_vectors=config.include_vectors)
        return self._result(owner_fp, suspect_fp, pair, null, config)

    def _result(self, owner_fp: PCSFingerprint, suspect_fp: PCSFingerprint,
                pair: tuple[float, dict[str, float], int, int], null: NullCalibration | None,
                config: PCSConfig) -> PCSResult:
        score, role_cos, n_pairs, n_params = pair
        null = null if null is not None else calibrate([])
        notes = () if null.n >= 3 else (how_to_fix(null.n, config.alpha),)
        return PCSResult(
            method=self.name, score=score, p_value=null.p_value(score, config.alpha),
            verdict=decide(score, null, alpha=config.alpha, best_possible=self.best_possible),
            z_score=null.z_score(score), threshold=null.threshold(config.alpha), role_cosines=role_cos,
            n_pairs=n_pairs, n_parameters=n_params, null=summarize(null), notes=notes,
            owner=owner_fp.model, suspect=suspect_fp.model)


PCS = PCSMethod()


def fingerprint(model: Checkpoint | str | Path, config: PCSConfig = PCSConfig()) -> PCSFingerprint:
    return PCS.fingerprint(model if isinstance(model, Checkpoint) else open_checkpoint(model), config)


def verify(owner: str | Path | Checkpoint, suspect: str | Path | Checkpoint, config: PCSConfig | None = None, *,
           references: Sequence[str | Path] = ()) -> PCSResult:
    """Global parameter cosine of ``suspect`` against ``owner``, calibrated on unrelated ``references``.

    >>> verify("owner_dir", "suspect_dir", references=["other_dir", ...]).score     # doctest: +SKIP
    0.97
    """
    return PCS.verify(owner, suspect, config, references=references)
