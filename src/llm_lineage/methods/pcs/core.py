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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import KeyFileError
from ...stats import NullCalibration, Verdict, calibrate, decide
from ...stats.nulls import NullSummary, cached_null_scores, model_identity, reference_models, summarize
from ...weights import Checkpoint, open_checkpoint
from .config import PCSConfig


@dataclass(frozen=True)
class PCSFingerprint:
    """PCS needs both models' weights: its fingerprint points at the checkpoint and pins its files."""

    model: str
    identity: str     # changes when the weight files do (stats.nulls.model_identity)
    config: dict[str, Any]

    def checkpoint(self) -> Checkpoint:
        path = Path(self.model)
        if not path.exists() or model_identity(path) != self.identity:
            raise KeyFileError(f"PCS needs the weights of {self.model}, which are gone or changed since fingerprinting",
                               hint="pass the model directory itself")
        return open_checkpoint(path)


@dataclass(frozen=True)
class PCSResult:
    method: str
    score: float                  # the global cosine, in [-1, 1]
    p_value: float
    verdict: Verdict
    z_score: float
    threshold: float
    role_cosines: dict[str, float]   # per role, pooled over layers
    n_pairs: int                  # tensor pairs of equal role and shape
    n_parameters: int             # parameters in those pairs (per model)
    null: NullSummary
    owner: str = ""
    suspect: str = ""


def fingerprint(model: Checkpoint | str | Path, config: PCSConfig = PCSConfig()) -> PCSFingerprint:
    ckpt = model if isinstance(model, Checkpoint) else open_checkpoint(model)
    return PCSFingerprint(model=str(ckpt.path), identity=model_identity(ckpt.path),
                          config={"model_type": ckpt.config.model_type, "hidden_size": ckpt.config.hidden_size})


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
        a = owner.store.get(info.key, dtype=np.float64).ravel()
        b = suspect.store.get(other.key, dtype=np.float64).ravel()
        acc = sums.setdefault(info.role, np.zeros(3))
        acc += (a @ b, a @ a, b @ b)
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


def null_calibration(owner: Checkpoint, config: PCSConfig = PCSConfig(), *,
                     exclude: tuple[str | Path, ...] = ()) -> tuple[NullCalibration, list[Path]]:
    models = reference_models(owner, n_zoo=config.n_zoo_nulls, extra=config.null_paths, exclude=exclude)

    def score(path: Path) -> float:
        return cosines(owner, open_checkpoint(path), include_vectors=config.include_vectors)[0]

    key = hashlib.sha256(f"{model_identity(owner.path)}:{config.include_vectors}".encode()).hexdigest()
    scores = cached_null_scores("pcs", key, models, score, use_cache=config.cache)
    return calibrate(scores, source=f"PCS of the owner with {len(models)} unrelated models"), models


def compare(owner: PCSFingerprint | Checkpoint, suspect: PCSFingerprint | Checkpoint, *,
            null: NullCalibration | None = None, config: PCSConfig | None = None) -> PCSResult:
    config = config or PCSConfig()
    owner_ckpt = owner.checkpoint() if isinstance(owner, PCSFingerprint) else owner
    suspect_ckpt = suspect.checkpoint() if isinstance(suspect, PCSFingerprint) else suspect
    score, role_cos, n_pairs, n_params = cosines(owner_ckpt, suspect_ckpt, include_vectors=config.include_vectors)
    models: list[Path] = []
    if null is None:
        null, models = null_calibration(owner_ckpt, config, exclude=(suspect_ckpt.path,))
    return PCSResult(
        method="pcs", score=score, p_value=null.p_value(score, config.alpha),
        verdict=decide(score, null, alpha=config.alpha, best_possible=1.0),
        z_score=null.z_score(score), threshold=null.threshold(config.alpha), role_cosines=role_cos,
        n_pairs=n_pairs, n_parameters=n_params, null=summarize(null, models),
        owner=str(owner_ckpt.path), suspect=str(suspect_ckpt.path))


def _as_checkpoint(model: str | Path | Checkpoint) -> Checkpoint:
    from ..fingerprint_io import is_fingerprint_file, load

    if isinstance(model, Checkpoint):
        return model
    if is_fingerprint_file(model):
        fp = load(model)[0].get("pcs")
        if not isinstance(fp, PCSFingerprint):
            raise KeyFileError(f"{model} holds no 'pcs' fingerprint")
        return fp.checkpoint()
    return open_checkpoint(model)


def verify(owner: str | Path | Checkpoint, suspect: str | Path | Checkpoint, config: PCSConfig | None = None, *,
           null: tuple[str | Path, ...] | None = None) -> PCSResult:
    """Global parameter cosine of ``suspect`` against ``owner``, calibrated on unrelated models.

    >>> verify("owner_dir", "suspect_dir").score     # doctest: +SKIP
    0.97
    """
    config = (config or PCSConfig()).with_options(null_paths=null)
    return compare(_as_checkpoint(owner), _as_checkpoint(suspect), config=config)
