"""One-to-many search: which registered owner, if any, does this suspect descend from?

1. **Shortlist.** The suspect's summary vector (``summary.py``) is correlated with every
   registered summary in one matrix product; the ``shortlist`` best go on. Cost O(N) small dot
   products, no fingerprint file opened.
2. **Full comparisons.** For each shortlisted owner, every registered method whose fingerprint
   both sides have runs its ``compare``; the suspect is fingerprinted once per method, not once per
   owner. Each score is judged against the method's own calibration *and* the registry null (the
   owner against up to ``null_size`` other registered models), see ``combine.py``.
3. **Verdicts.** Per candidate across methods (which agree, which cannot apply and why), then
   across candidates, best first.

The black-box path for API suspects is in ``endpoint.py``; storage in ``store.py``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..claims import assess_search
from ..errors import LineageError
from ..methods import METHODS, Kind
from ..outputs.source import is_url
from ..progress import track
from ..stats import NullCalibration, calibrate, decide
from ..weights import Checkpoint, open_checkpoint
from .combine import (
    MethodEvidence,
    candidate_verdict,
    exact_evidence,
    method_evidence,
    not_applicable,
    overall_verdict,
    rank_key,
)
from .results import Candidate, SearchResult, evenly_spaced, owner_lacks, same_weights
from .store import Entry, Registry
from .summary import embedding_rows, summarise

N_RANDOM = 32  # random embeddings in the summary's own null


@dataclass(frozen=True)
class Shortlist:
    names: list[str]          # every registered entry
    scores: np.ndarray        # summary correlation with the suspect, NaN where it cannot apply
    chosen: list[int]         # indices into ``names``, best first
    seconds: float


def shortlist(registry: Registry, rows: np.ndarray, size: int) -> Shortlist:
    """Rank every registered model by summary correlation with the suspect's ``rows``: an exact
    scan, one matrix-vector product per token-id set over the registry's in-memory summary index."""
    start = time.perf_counter()
    index = registry.summary_index()
    scores = np.full(len(index.names), np.nan)
    for ids, positions, vectors in index.groups.values():
        if ids.max(initial=-1) >= rows.shape[0]:
            continue  # the suspect's vocabulary does not reach this owner's token ids
        query = summarise(rows, ids).vector.astype(np.float32)
        scores[positions] = np.clip(vectors[:, :len(query)] @ query, -1.0, 1.0)
    ranked = np.where(np.isnan(scores), -np.inf, scores)
    size = min(size, len(ranked))
    best = np.argpartition(-ranked, size - 1)[:size] if size else np.zeros(0, dtype=np.int64)
    # best first; ties (and NaNs, last) in registration order
    chosen = sorted(best.tolist(), key=lambda i: (-ranked[i], i))
    return Shortlist(index.names, scores, chosen, time.perf_counter() - start)


def search(suspect: str | Path | Checkpoint, registry: Registry | str | Path | None = None, *, top: int = 5,
           shortlist_size: int | None = None, null_size: int = 12, alpha: float = 0.01,
           methods: Sequence[str] | None = None, progress: bool = False,
           endpoint_options: dict[str, Any] | None = None) -> SearchResult:
    """Rank registered owners by the evidence that ``suspect`` descends from them.

    Parameters
    ----------
    suspect : model directory / weight file / Checkpoint (white-box) or ``http(s)://`` endpoint (black-box)
    registry : a :class:`Registry` or its path (default: the user's registry)
    top : candidates returned, best first
    shortlist_size : owners compared in full (default ``2 * top``)
    null_size : other registered models each candidate's registry null is built from
    endpoint_options : for an endpoint suspect, what ``endpoint.search_endpoint`` takes (api_model,
        config, tokenizer_dir, cache_path, resume, max_queries, ...)
    """
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    if is_url(suspect):
        from .endpoint import search_endpoint

        return search_endpoint(suspect, reg, top=top, null_size=null_size, alpha=alpha, progress=progress,
                               **(endpoint_options or {}))
    ckpt = suspect if isinstance(suspect, Checkpoint) else open_checkpoint(suspect)
    rows, _ = embedding_rows(ckpt)
    short = shortlist(reg, rows, shortlist_size or 2 * top)
    start = time.perf_counter()
    comparer = Comparer(reg, ckpt, null_size, alpha, methods)
    chosen = track(short.chosen, "comparing candidates") if progress else short.chosen
    candidates = [comparer.candidate(short, i) for i in chosen]
    candidates.sort(key=lambda c: rank_key(c.verdict, c.p_value, c.summary_score))
    verdict, p, why = overall_verdict([(c.name, c.verdict, c.p_value) for c in candidates], alpha)
    best = candidates[0].summary_score if candidates else math.nan
    claim = assess_search(ckpt.path, [(c.name, str(comparer.entries[c.name].provenance.get("source", c.name)),
                                       c.verdict) for c in candidates])
    return SearchResult("registry-search", str(ckpt.path), best, p, verdict, why, candidates[:top],
                        len(short.names), len(short.chosen), short.seconds, time.perf_counter() - start,
                        claim=claim)


class Comparer:
    """Full comparisons; caches the suspect's fingerprints and loaded owner fingerprints.

    The suspect is a checkpoint (fingerprinted here) or a registered entry (its stored
    fingerprints: the family tree compares entries with one another). ``null_pool`` names, per
    owner, the entries its registry null may draw from (default: every other entry).
    """

    def __init__(self, registry: Registry, suspect: Checkpoint | Entry, null_size: int, alpha: float,
                 methods: Sequence[str] | None, *, null_pool: dict[str, list[str]] | None = None,
                 entries: dict[str, Entry] | None = None, caches: dict[str, dict[Any, Any]] | None = None) -> None:
        self.registry = registry
        self.suspect = suspect
        self.null_size = null_size
        self.alpha = alpha
        self.methods = sorted(METHODS) if methods is None else list(methods)
        self.entries = entries if entries is not None else {e.name: e for e in registry.entries()}
        self.null_pool = null_pool
        self._suspect_fps: dict[str, Any] = {}
        # shared between comparers of one registry: owner fingerprints, registry nulls, random nulls
        caches = caches if caches is not None else {}
        self._owner_fps: dict[tuple[str, str], Any] = caches.setdefault("owner_fps", {})
        self._nulls: dict[tuple[str, str], NullCalibration] = caches.setdefault("nulls", {})
        self._random: dict[tuple[int, int], np.ndarray] = caches.setdefault("random", {})

    @property
    def suspect_vocab_size(self) -> int | None:
        if isinstance(self.suspect, Entry):
            return self.suspect.provenance.get("architecture", {}).get("vocab_size")
        return self.suspect.config.vocab_size

    @property
    def suspect_tokenizer(self) -> str | None:
        return self.suspect.tokenizer_sha256 if isinstance(self.suspect, Entry) else self.suspect.tokenizer_hash()

    def candidate(self, short: Shortlist, index: int) -> Candidate:
        entry = self.entries[short.names[index]]
        evidence = {"summary": self._summary_evidence(entry, short, index)}
        for method in self.methods:
            evidence[method] = self._method_evidence(entry, method)
        cv = candidate_verdict(evidence, self.alpha)
        return Candidate(entry.name, cv.verdict, cv.p_value, float(short.scores[index]),
                         {m: e.score for m, e in evidence.items()}, evidence, cv.agree, cv.disagree,
                         cv.cannot_apply, cv.explanation, cv.neg_log10_p)

    # --- the shortlist statistic, judged like a method ---------------------------------------

    def _summary_evidence(self, entry: Entry, short: Shortlist, index: int) -> MethodEvidence:
        score = float(short.scores[index])
        if entry.summary is None or math.isnan(score):
            why = "no summary stored" if entry.summary is None else "suspect vocabulary does not reach the owner's token ids"
            return not_applicable("summary", "summary", why)
        others = [e for e in self.entries.values() if e.name != entry.name and e.summary is not None
                  and e.summary.ids_key == entry.summary.ids_key and not same_weights(e, entry)]
        null_scores = [float(np.dot(entry.summary.vector, e.summary.vector)) for e in others]  # type: ignore[union-attr]
        null = calibrate(null_scores, source="other registered models")
        vocab = entry.provenance.get("architecture", {}).get("vocab_size")
        if vocab and self.suspect_vocab_size not in (None, vocab):
            # another vocabulary: the same ids name different tokens and the correlation is no evidence
            # (it called 6 of 156 independent real pairs derived in benchmarks/calibration.py --search)
            return not_applicable("summary", "summary", f"another vocabulary ({self.suspect_vocab_size} tokens against "
                                  f"{vocab}): the summary's token ids name different tokens")
        hidden = int(entry.provenance.get("architecture", {}).get("hidden_size") or 64)
        own = calibrate(self._random_null(entry, hidden), source="random embeddings")
        note = ""
        if entry.tokenizer_sha256 and self.suspect_tokenizer not in (None, entry.tokenizer_sha256):
            note = "different tokenizer: token ids may name different tokens"
        return method_evidence("summary", "summary", score, own.p_value(score, self.alpha),
                               decide(score, own, alpha=self.alpha, best_possible=1.0), null,
                               best_possible=1.0, alpha=self.alpha, note=note)

    def _random_null(self, entry: Entry, hidden: int) -> np.ndarray:
        ids = entry.summary.token_ids  # type: ignore[union-attr]
        key = (len(ids), hidden)
        if key not in self._random:
            rng = np.random.default_rng(0)
            local = np.arange(len(ids))
            self._random[key] = np.stack([summarise(rng.normal(size=(len(ids), hidden)), local).vector
                                          for _ in range(N_RANDOM)])
        return self._random[key] @ entry.summary.vector  # type: ignore[union-attr]

    # --- registered methods ------------------------------------------------------------------

    def _method_evidence(self, entry: Entry, method: str) -> MethodEvidence:
        spec = METHODS.get(method)
        if spec is None:
            return not_applicable(method, "unknown", "method not installed in this version")
        kind = str(spec.kind)
        if (missing := owner_lacks(entry, method, kind)) is not None:
            return missing
        if spec.kind is not Kind.WEIGHTS:
            # output methods test query evidence, not a fingerprint: one campaign per suspect
            return not_applicable(method, kind, "black-box: search the suspect's endpoint URL to use the owner keys")
        suspect_fp = self._suspect_fp(method)
        if isinstance(suspect_fp, LineageError):
            return not_applicable(method, kind, f"suspect: {suspect_fp}")
        owner_fp = self._owner_fp(entry.name, method)
        config = spec.default_config()
        if spec.exact_null:  # its own null is valid for the pair: no registry null (combine.py says why)
            try:
                result = spec.compare(owner_fp, suspect_fp, null=None, config=config)
            except LineageError as exc:
                return not_applicable(method, kind, str(exc))
            if not math.isfinite(float(result.p_value)):
                return not_applicable(method, kind, result.note or "no p-value for this pair")
            return exact_evidence(method, kind, float(result.score), float(result.p_value), result.verdict,
                                  result.neg_log10_p, note=result.note)
        try:
            best = float(spec.score(owner_fp, owner_fp, config))
            null = self._registry_null(entry, method, owner_fp, best)
            # the method judges the score against the registry null with its own rules
            result = spec.compare(owner_fp, suspect_fp, null=null, config=config)
        except LineageError as exc:
            return not_applicable(method, kind, str(exc))
        note = result.note
        if not math.isfinite(float(result.score)):
            return not_applicable(method, kind, note or "score undefined for this pair")
        return method_evidence(method, kind, float(result.score), float(result.p_value), result.verdict, null,
                               best_possible=best, alpha=self.alpha, note=note)

    def _registry_null(self, entry: Entry, method: str, owner_fp: Any, best: float) -> NullCalibration:
        if (entry.name, method) in self._nulls:
            return self._nulls[(entry.name, method)]
        pool = self.entries.values() if self.null_pool is None else [self.entries[n] for n in self.null_pool[entry.name]]
        suspect = self.suspect.name if isinstance(self.suspect, Entry) else None
        others = [e for e in pool if e.name not in (entry.name, suspect) and method in e.methods
                  and not same_weights(e, entry)]
        others = evenly_spaced(others, self.null_size)
        spec = METHODS[method]
        config = spec.default_config()
        scores = []
        for other in others:
            try:
                scores.append(float(spec.score(owner_fp, self._owner_fp(other.name, method), config)))
            except LineageError:
                continue  # not comparable with this owner (other vocabulary, say): not part of its null
        # orientation from the copy's score: a method's related direction is where a copy lies
        higher = not scores or best >= float(np.median(scores))
        null = calibrate(scores, higher_is_related=higher, source="other registered models")
        if self.null_pool is not None:  # the pool does not depend on the suspect: reusable
            self._nulls[(entry.name, method)] = null
        return null

    def _suspect_fp(self, method: str) -> Any:
        if method not in self._suspect_fps:
            try:
                spec = METHODS[method]
                if isinstance(self.suspect, Entry):
                    if method not in self.suspect.methods:
                        raise LineageError(f"{self.suspect.name} has no stored {method} fingerprint")
                    self._suspect_fps[method] = self._owner_fp(self.suspect.name, method)
                else:
                    self._suspect_fps[method] = spec.fingerprint(self.suspect, spec.default_config())
            except LineageError as exc:
                self._suspect_fps[method] = exc
        return self._suspect_fps[method]

    def _owner_fp(self, name: str, method: str) -> Any:
        if (name, method) not in self._owner_fps:
            blob = self.entries[name].fingerprints[method].blob
            self._owner_fps[(name, method)] = self.registry.load_blob(blob, method)  # type: ignore[arg-type]
        return self._owner_fps[(name, method)]


