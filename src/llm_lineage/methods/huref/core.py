r"""HuRef invariant-terms fingerprint: ``fingerprint``, ``compare`` and the one entry point ``verify``.

A fingerprint holds the embedding rows X of the token set and, per slice (block x term), the
hidden x hidden matrix A of :mod:`.terms`; the invariant term is ``M = X A X^T``. Two models are
compared by the Invariant Terms' Similarity::

    ICS = 100 * mean_s corr(M_s(owner), M_s(suspect))

(Pearson over the n x n entries, equal to the cosine of the standardised terms), calibrated
against the ICS of the owner with unrelated models (:mod:`llm_lineage.stats.nulls`).
Fingerprints and null scores are cached on disk, so a repeated ``verify`` only re-reads headers.

References
----------
.. [1] B. Zeng, L. Wang, Y. Hu, Y. Xu, C. Zhou, X. Wang, Y. Yu, Z. Lin, "HuRef: HUman-REadable
   Fingerprint for Large Language Models", NeurIPS 2024, arXiv:2312.04828.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError, KeyFileError, VocabularyMismatch
from ...references import how_to_fix, reference_models
from ...stats import NullCalibration, Verdict, calibrate, decide, summarize
from ...stats.nulls import cached_null_scores, model_identity
from ...weights import Checkpoint, open_checkpoint
from ..base import Kind, Method, Result
from . import terms, tokens
from .config import HurefConfig

_MIN_SHARED_TOKENS = 16


@dataclass(frozen=True)
class HurefFingerprint:
    """Invariant terms of one model: ``M_s = embedding @ terms[s] @ embedding.T``."""

    mode: str                     # "invariant" or "huref"
    model: str                    # the path it was read from
    config: dict[str, Any]        # architecture sizes, to build null models without the weights
    tokenizer_hash: str | None
    slices: tuple[str, ...]       # "L-1.attn", ... one per term
    tokens: tuple[str, ...]       # token strings of X, as the vocabulary spells them
    token_ids: np.ndarray         # (n,) int64
    embedding: np.ndarray         # (n, hidden_size) float32: the rows of X (``invariant``: unit RMS)
    terms: np.ndarray             # (n_slices, hidden_size, hidden_size), computed in float64, kept as
                                  # float32 (six of them are 400 MB at 7B instead of 800)

    @property
    def digest(self) -> str:
        h = hashlib.sha256(json.dumps([self.mode, self.slices]).encode())
        for arr in (self.token_ids, self.embedding, self.terms):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class HurefResult(Result):
    """ICS of a suspect against an owner (``score``: 100 x mean Pearson correlation, in [-100, 100])."""

    z_score: float
    slice_correlations: dict[str, float]
    n_tokens: int
    token_alignment: str          # "ids" (same tokenizer) or "strings" (shared token strings)


# --- fingerprint ---------------------------------------------------------------------------------


def fingerprint(model: Checkpoint | str | Path, config: HurefConfig = HurefConfig(), *,
                token_ids: np.ndarray | None = None) -> HurefFingerprint:
    """Read the token rows and the configured blocks' terms, one block at a time.

    ``token_ids`` fixes X (used to evaluate null models on the owner's tokens); otherwise X is
    ``config.tokens`` or the ``config.n_tokens`` least frequent tokens (:mod:`.tokens`).
    """
    ckpt = model if isinstance(model, Checkpoint) else open_checkpoint(model)
    if token_ids is not None:
        ids = np.asarray(token_ids, dtype=np.int64)
    elif config.tokens is not None:
        ids = tokens.ids_for_strings(ckpt, config.tokens)
    else:
        ids = tokens.least_frequent_ids(ckpt, config.n_tokens)
    key = _cache_key(ckpt, config, ids) if config.cache else None
    if key is not None and (cached := _cache_get(key)) is not None:
        return cached
    vocab_rows = ckpt.config.vocab_size
    if len(ids) < 2 or ids.min() < 0 or ids.max() >= vocab_rows:
        raise VocabularyMismatch(f"token ids must lie in [0, {vocab_rows}) for {ckpt.path}; got {len(ids)} ids "
                                 f"up to {int(ids.max()) if len(ids) else '-'}")
    # 1. X: the token set's embedding rows, read without the rest of the embedding
    embedding = ckpt.rows("embed_tokens", ids, dtype=np.float64)
    if config.mode == "invariant":
        # the first block sees RMSNorm(x) = x / rms(x) (gain folded): only a row's direction
        # matters there, and row norms (how often a token was trained) are shared by any two
        # models trained on similar text, so they are taken out
        embedding /= np.sqrt(np.mean(embedding**2, axis=1, keepdims=True)) + 1e-12
    embedding = embedding.astype(np.float32)
    # 2. per block, the hidden x hidden matrices of M_a, M_b, M_f
    slices, mats = [], []
    for label, layer in terms.resolve_layers(config.layers, ckpt.n_layers):
        for term, mat in terms.block_terms(ckpt, layer, config.mode).items():
            slices.append(f"{label}.{term}")
            mats.append(mat.astype(np.float32))
            del mat
    fp = HurefFingerprint(
        mode=config.mode, model=str(ckpt.path),
        config=ckpt.config.sizes(),
        tokenizer_hash=ckpt.tokenizer_hash(), slices=tuple(slices),
        tokens=tokens.strings_of(ckpt, ids.tolist()), token_ids=ids, embedding=embedding, terms=np.stack(mats))
    if key is not None:
        _cache_put(key, fp)
    return fp


def _cache_key(ckpt: Checkpoint, config: HurefConfig, ids: np.ndarray) -> str | None:
    from ...paths import fingerprint_caching

    if not fingerprint_caching():
        return None
    try:
        identity = model_identity(ckpt.path)
    except OSError:
        return None
    spec = [identity, config.mode, config.layers, hashlib.sha256(ids.tobytes()).hexdigest(), 2]
    return hashlib.sha256(json.dumps(spec, default=str).encode()).hexdigest()[:24]


_MEMORY: dict[str, HurefFingerprint] = {}


def _cache_path(key: str) -> Path:
    from ...paths import cache_root

    return cache_root() / "fingerprints" / f"huref-{key}.safetensors"


def _cache_get(key: str) -> HurefFingerprint | None:
    if key in _MEMORY:
        return _MEMORY[key]
    from ..fingerprint_io import load

    path = _cache_path(key)
    if path.is_file() and path.with_suffix(".json").is_file():
        try:
            fp = load(path)[0]["fp"]
        except (KeyFileError, KeyError, TypeError):
            return None  # damaged cache entries are recomputed
        _MEMORY[key] = fp
        return fp
    return None


def _cache_put(key: str, fp: HurefFingerprint) -> None:
    from ..fingerprint_io import save

    _MEMORY[key] = fp
    try:
        save(_cache_path(key), {"fp": fp})
    except OSError:
        pass  # a read-only cache only costs time


# --- comparing ---------------------------------------------------------------------------------


def align(owner: HurefFingerprint, suspect: HurefFingerprint, by: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """Row indices of the tokens both fingerprints hold, and how they were matched.

    ``auto`` matches by id when both come from the same tokenizer (or one has none) and by
    token string otherwise.
    """
    if by == "auto":
        same = owner.tokenizer_hash is None or suspect.tokenizer_hash is None \
            or owner.tokenizer_hash == suspect.tokenizer_hash
        by = "ids" if same else "strings"
    if by == "ids":
        _, rows_owner, rows_suspect = np.intersect1d(owner.token_ids, suspect.token_ids, return_indices=True)
    else:
        index = {s: i for i, s in enumerate(suspect.tokens)}
        pairs = [(i, index[s]) for i, s in enumerate(owner.tokens) if s in index]
        rows_owner = np.array([p[0] for p in pairs], dtype=np.int64)
        rows_suspect = np.array([p[1] for p in pairs], dtype=np.int64)
    if len(rows_owner) < _MIN_SHARED_TOKENS:
        raise VocabularyMismatch(
            f"the two fingerprints share {len(rows_owner)} tokens (matched by {by}); at least "
            f"{_MIN_SHARED_TOKENS} are needed", hint="fingerprint both models with one token list (--tokens)")
    return rows_owner, rows_suspect, by


def slice_correlations(owner: HurefFingerprint, suspect: HurefFingerprint,
                       by: str = "auto") -> tuple[dict[str, float], int, str]:
    """Pearson correlation of each slice both fingerprints have, the token count and the matching."""
    if owner.mode != suspect.mode:
        raise InputError(f"cannot compare a {owner.mode!r} fingerprint with a {suspect.mode!r} one")
    rows_owner, rows_suspect, by = align(owner, suspect, by)
    x1 = owner.embedding[rows_owner].astype(np.float64)
    x2 = suspect.embedding[rows_suspect].astype(np.float64)
    cross = x1.T @ x2
    index = {s: i for i, s in enumerate(suspect.slices)}
    shared = [s for s in owner.slices if s in index]
    if not shared:
        raise InputError(f"the fingerprints share no slice (owner {owner.slices}, suspect {suspect.slices})",
                         hint="fingerprint both with the same --layers")
    out = {s: terms.correlation(x1, owner.terms[i], x2, suspect.terms[index[s]], cross)
           for i, s in enumerate(owner.slices) if s in index}
    return out, len(rows_owner), by


def ics(owner: HurefFingerprint, suspect: HurefFingerprint, by: str = "auto") -> float:
    """Invariant Terms' Similarity: 100 x mean slice correlation."""
    corr, _, _ = slice_correlations(owner, suspect, by)
    values = np.array(list(corr.values()))
    return float(100 * np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def same_tokenizer(a: str | None, b: str | None) -> bool:
    """The rule ``pair_fingerprints`` uses: token ids correspond unless both hashes are known and differ."""
    return a == b or None in (a, b)


def null_calibration(owner: HurefFingerprint, config: HurefConfig, references: Sequence[Path], *,
                     regime: str = "ids", owner_ckpt: Checkpoint | None = None) -> NullCalibration:
    """ICS of the owner against unrelated reference models, by the procedure that scored the suspect.

    ``regime`` is how the suspect was compared: ``"ids"`` (same tokenizer: the owner's token ids)
    or ``"strings"`` (another tokenizer: the rarest token strings both vocabularies share, chosen
    anew for each reference from ``owner_ckpt``). Only references compared the same way enter the
    null: an ICS on a few hundred shared characters and one on 4096 rare tokens are different
    statistics, and mixing them once called independent real models derived at p < 0.001.
    """

    def score(path: Path) -> float:
        ckpt = open_checkpoint(path)
        if same_tokenizer(owner.tokenizer_hash, ckpt.tokenizer_hash()) != (regime == "ids"):
            return float("nan")  # compared another way than the suspect: not part of this null
        if regime == "strings":
            if owner_ckpt is None:
                return float("nan")
            mine, theirs, _ = pair_fingerprints(owner_ckpt, ckpt, config)
            return ics(mine, theirs, by="ids")
        ids = owner.token_ids[owner.token_ids < ckpt.config.vocab_size]
        if len(ids) < _MIN_SHARED_TOKENS:
            return float("nan")
        return ics(owner, fingerprint(ckpt, config, token_ids=ids), by="ids")

    digest = owner.digest if regime == "ids" else f"{owner.model}:{owner.tokenizer_hash}"
    key = hashlib.sha256(f"{digest}:{config.layers}:{regime}".encode()).hexdigest()
    scores = cached_null_scores(f"huref-{config.mode}", key, references, score, use_cache=config.cache)
    return calibrate(scores, models=references,
                     source=f"ICS of the owner with unrelated models compared by token {regime}")


def compare(owner: HurefFingerprint, suspect: HurefFingerprint, *, null: NullCalibration | None,
            config: HurefConfig | None = None) -> HurefResult:
    """ICS of ``suspect`` against ``owner`` with a calibrated verdict (``inconclusive`` without a null)."""
    config = config or HurefConfig(mode=owner.mode)  # type: ignore[arg-type]  # a stored mode is valid
    corr, n_tokens, by = slice_correlations(owner, suspect)
    values = np.array(list(corr.values()))
    score = float(100 * np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    null = null if null is not None else calibrate([])
    notes: list[str] = []
    verdict = decide(score, null, alpha=config.alpha, best_possible=100.0)
    if by == "strings":
        notes.append(f"tokenizers differ: X is the {n_tokens} token strings both vocabularies share")
        if verdict is Verdict.DERIVED:
            # measured (benchmarks/calibration.py): on shared strings, mostly bytes and characters,
            # independent models of similar text score ICS 20-75 and beat every reference null here
            verdict = Verdict.INCONCLUSIVE
            notes.append("on shared token strings no reference null is valid (independent real models of similar "
                         "text beat it: 8 of 43 pairs), so this method does not call it derived; use tracing or awm")
    if null.n < 3:
        notes.append(how_to_fix(null.n, config.alpha))
    return HurefResult(
        method=config.mode, score=score, p_value=null.p_value(score, config.alpha), verdict=verdict,
        z_score=null.z_score(score), threshold=null.threshold(config.alpha),
        slice_correlations=corr, n_tokens=n_tokens, token_alignment=by,
        null=summarize(null), owner=owner.model, suspect=suspect.model, notes=tuple(notes))


# --- the entry point ---------------------------------------------------------------------------


def _load_saved(path: Path, mode: str) -> HurefFingerprint | None:
    from ..fingerprint_io import is_fingerprint_file, load

    if not is_fingerprint_file(path):
        return None
    saved, _ = load(path)
    fp = saved.get(mode)
    if not isinstance(fp, HurefFingerprint):
        raise KeyFileError(f"{path} holds no {mode!r} fingerprint (it has {', '.join(saved) or 'none'})",
                           hint=f"run `llm-lineage fingerprint MODEL` with the {mode} method")
    return fp


def pair_fingerprints(owner: str | Path | Checkpoint, suspect: str | Path | Checkpoint,
                      config: HurefConfig) -> tuple[HurefFingerprint, HurefFingerprint, Checkpoint | None]:
    """Fingerprints of both sides on one token set; either side may be a saved fingerprint file."""
    owner_fp = _load_saved(Path(owner), config.mode) if not isinstance(owner, Checkpoint) else None
    suspect_fp = _load_saved(Path(suspect), config.mode) if not isinstance(suspect, Checkpoint) else None
    owner_ckpt = None if owner_fp else (owner if isinstance(owner, Checkpoint) else open_checkpoint(owner))
    suspect_ckpt = None if suspect_fp else (suspect if isinstance(suspect, Checkpoint) else open_checkpoint(suspect))
    if owner_ckpt is not None and suspect_ckpt is not None and config.tokens is None:
        same = owner_ckpt.tokenizer_hash() == suspect_ckpt.tokenizer_hash() \
            or None in (owner_ckpt.tokenizer_hash(), suspect_ckpt.tokenizer_hash())
        if not same:  # different tokenizers: X = the rarest token strings both vocabularies share
            ids_owner, ids_suspect = tokens.shared_token_ids(owner_ckpt, suspect_ckpt, config.n_tokens)
            return (fingerprint(owner_ckpt, config, token_ids=ids_owner),
                    fingerprint(suspect_ckpt, config, token_ids=ids_suspect), owner_ckpt)
    if owner_fp is None:
        assert owner_ckpt is not None  # opened above whenever no saved fingerprint was given
        owner_fp = fingerprint(owner_ckpt, config)
    if suspect_fp is None:
        assert suspect_ckpt is not None
        same_vocab = suspect_ckpt.tokenizer_hash() in (None, owner_fp.tokenizer_hash) or owner_fp.tokenizer_hash is None
        ids = owner_fp.token_ids if same_vocab and config.tokens is None else None
        if ids is not None:
            ids = ids[ids < suspect_ckpt.config.vocab_size]
        suspect_fp = fingerprint(suspect_ckpt, config, token_ids=ids)
    return owner_fp, suspect_fp, owner_ckpt


class HurefMethod(Method[HurefFingerprint, HurefConfig, HurefResult]):
    """HuRef invariant terms in one of two modes (``invariant`` or ``huref``), each registered by name.

    Null: ICS of the owner against unrelated reference models on the owner's token ids; the
    p-value is empirical or Student-t prediction (``stats.calibration``), valid when the
    references are exchangeable with an unrelated suspect. Models trained on the same text share
    interaction structure (ICS 20-75 for the real independent pairs), so references of other data
    make the null anti-conservative: see the README.
    """

    kind = Kind.WEIGHTS
    config_cls = HurefConfig
    fingerprint_cls = (HurefFingerprint,)
    best_possible = 100.0
    plain = "invariant products of embedding and attention weights (HuRef)"

    def __init__(self, mode: str, describe: str) -> None:
        self.name = mode  # type: ignore[misc]  # one class, two registered names
        self.describe = describe  # type: ignore[misc]

    def default_config(self) -> HurefConfig:
        return HurefConfig(mode=self.name)  # type: ignore[arg-type]  # name is a mode

    def configure(self, config: HurefConfig | None = None, **options: Any) -> HurefConfig:
        if options.get("layers") not in (None, "all"):
            options["layers"] = tuple(int(x) for x in options["layers"])
        if options.get("tokens") is not None:
            options["tokens"] = tuple(options["tokens"])
        return super().configure(config, **options)

    def fingerprint(self, source: Checkpoint, config: HurefConfig) -> HurefFingerprint:
        return fingerprint(source, config)

    def score(self, owner_fp: HurefFingerprint, suspect_fp: HurefFingerprint, config: HurefConfig) -> float:
        return ics(owner_fp, suspect_fp)

    def null(self, owner_fp: HurefFingerprint, config: HurefConfig, references: Sequence[Path]) -> NullCalibration:
        return null_calibration(owner_fp, config, references)

    def compare(self, owner_fp: HurefFingerprint, suspect_fp: HurefFingerprint, *, null: NullCalibration | None,
                config: HurefConfig) -> HurefResult:
        return compare(owner_fp, suspect_fp, null=null, config=config)

    def load_fingerprint(self, path: str | Path) -> HurefFingerprint | None:
        return _load_saved(Path(path), self.name)

    def verify(self, owner: str | Path | Checkpoint, suspect: Any, config: HurefConfig | None = None, *,
               references: Sequence[str | Path] = ()) -> HurefResult:
        """The template, except that both sides are fingerprinted on one token set: when the
        tokenizers differ, X is the rarest token strings both vocabularies share."""
        config = config if config is not None else self.default_config()
        owner_fp, suspect_fp, owner_ckpt = pair_fingerprints(owner, suspect, config)
        models = reference_models(extra=references, exclude=[Path(owner_fp.model), Path(suspect_fp.model)])
        regime = "ids" if same_tokenizer(owner_fp.tokenizer_hash, suspect_fp.tokenizer_hash) else "strings"
        null = null_calibration(owner_fp, config, models, regime=regime, owner_ckpt=owner_ckpt)
        return compare(owner_fp, suspect_fp, null=null, config=config)

    def plot(self, owner_fp: HurefFingerprint, suspect_fp: Any, result: HurefResult, path: Path) -> Path | None:
        from .plot import plot_comparison

        return plot_comparison(owner_fp, suspect_fp, result, path)


INVARIANT = HurefMethod("invariant", "HuRef invariant terms with norm gains folded (ICS); survives fine-tuning, "
                                     "residual rotation/permutation, Q/K, V/O and FFN scaling; needs the weights")
HUREF = HurefMethod("huref", "HuRef invariant terms as published (ICS); survives fine-tuning, permutation and "
                             "scaling, not norm folding with residual rotation")


def verify(owner: str | Path | Checkpoint, suspect: str | Path | Checkpoint,
           config: HurefConfig | None = None, *, mode: str | None = None,
           layers: tuple[int, ...] | str | None = None, references: Sequence[str | Path] = (),
           tokens: tuple[str, ...] | None = None) -> HurefResult:
    r"""Does ``suspect`` share a base model with ``owner``? Both are model paths or fingerprint files.

    The default ``invariant`` mode survives residual rotation/permutation with norm folding,
    per-head Q/K and V/O scaling and FFN neuron permutation/scaling; ``huref`` is the paper's
    terms on the stored weights. ``layers`` (negative: from the end) and ``tokens`` (a token list)
    override ``config``; ``references`` are unrelated models for the null.

    >>> verify("owner_dir", "suspect_dir", references=["other_dir", ...]).verdict   # doctest: +SKIP
    <Verdict.DERIVED: 'derived'>
    """
    method = HUREF if (mode or (config.mode if config else "invariant")) == "huref" else INVARIANT
    config = method.configure(config, mode=mode, layers=layers, tokens=tokens)
    return method.verify(owner, suspect, config, references=references)
