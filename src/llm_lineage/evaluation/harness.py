"""The judge's bench: every registered method on a victim against derived and unrelated suspects.

:func:`evaluate` derives one suspect per :class:`AttackSpec` (through ``attacks.derive``), adds
the unrelated models it is given, and runs every registered method's ``verify`` on (victim,
suspect), a method with several access modes once per mode. It knows no method by
name: a method registered later simply appears. A method that cannot apply to a pair (a
``LineageError``: other architecture, missing tensor) is recorded as ``n/a`` with its message;
anything else is a bug and propagates. Results go through :class:`~.cache.ResultCache`, so a
rerun skips finished pairs. Metrics per method come from :mod:`.metrics`; :mod:`.report` writes
the HTML and JSON.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import progress as _progress
from ..errors import InputError, LineageError
from ..stats import Verdict
from . import metrics
from .cache import ResultCache
from .presets import PRESETS

if TYPE_CHECKING:
    from ..methods import Result

NOT_APPLICABLE = "n/a"

@dataclass(frozen=True)
class AttackSpec:
    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.kind + "".join(f":{k}={_fmt_option(v)}" for k, v in self.options.items())

    @property
    def truth(self) -> str:
        """``derived`` (weights taken), ``unrelated``, or ``distilled`` (behaviour copied, weights
        not: scored in a column of its own, never counted as a derived or an unrelated pair)."""
        return {"unrelated": "unrelated", "distill": "distilled"}.get(self.kind, "derived")


def _fmt_option(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def parse_attacks(spec: str) -> list[AttackSpec]:
    """``"finetune:steps=50,quantize:bits=4,reparam"`` -> attack specs (preset names expand)."""
    out: list[AttackSpec] = []
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        if entry in PRESETS:
            out.extend(parse_attacks(PRESETS[entry]))
            continue
        kind, *pairs = entry.split(":")
        options: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise InputError(f"attack option {pair!r} in {entry!r} is not key=value")
            options[key.replace("-", "_")] = _parse_value(value)
        out.append(AttackSpec(kind, options))
    if not out:
        raise InputError(f"no attacks in {spec!r}", hint=f"e.g. 'finetune:steps=50,rotate' or a preset: "
                                                           f"{', '.join(PRESETS)}")
    return out


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@dataclass(frozen=True)
class Suspect:
    name: str
    path: Path
    truth: str   # "derived", "unrelated" or "distilled": the ground truth the methods are judged against
    attack: str  # the attack label, or "" for an unrelated model given as is


@dataclass(frozen=True)
class MethodVariant:
    name: str                         # "huref", "subspace[topk]", ...
    method: str
    kind: str                         # weights / outputs / text
    config: Any = None                # None: the method's defaults

    def __call__(self, owner: Path, suspect: Path, references: Sequence[Path] = ()) -> Result:
        from ..methods import get_method

        return get_method(self.method).verify(owner, suspect, self.config, references=references)


@dataclass(frozen=True)
class PairResult:
    method: str
    suspect: str
    attack: str
    truth: str
    score: float
    p_value: float
    verdict: str                      # derived / unrelated / inconclusive, or n/a
    higher_is_related: bool
    n_queries: int | None
    seconds: float
    cached: bool = False
    note: str = ""                    # why n/a
    details: dict[str, Any] = field(default_factory=dict)   # the method's whole result

    @property
    def related_score(self) -> float:
        """The score oriented so that larger means more related."""
        return self.score if self.higher_is_related else -self.score


@dataclass(frozen=True)
class MethodSummary:
    method: str
    kind: str
    higher_is_related: bool
    auc: float
    accuracy: float                   # at the global threshold that maximises it
    threshold: float                  # that threshold, on the method's own score scale
    tpr_at_1pct_fpr: float
    verdict_accuracy: float           # the method's calibrated verdicts: derived vs not
    false_derived: int                # unrelated suspects called derived
    n_derived: int
    n_unrelated: int
    n_not_applicable: int
    mean_queries: float | None        # black-box: queries per verdict
    distilled_derived: int = 0        # distilled students called derived (behaviour seen)
    n_distilled: int = 0


@dataclass(frozen=True)
class Evaluation:
    method: str                       # "evaluation"
    victim: Path
    suspects: list[Suspect]
    pairs: list[PairResult]
    summaries: list[MethodSummary]
    seconds: float

    def pair(self, method: str, suspect: str) -> PairResult:
        return next(p for p in self.pairs if p.method == method and p.suspect == suspect)

    def summary(self, method: str) -> MethodSummary:
        return next(s for s in self.summaries if s.method == method)


def method_variants(names: Iterable[str] | None = None) -> list[MethodVariant]:
    """One variant per registered method, and per access mode for methods that have several."""
    from ..methods import get_method
    from ..methods.base import resolve

    out = []
    for name in resolve(list(names) if names else None):
        method = get_method(name)
        kind = str(method.kind)
        if len(method.access_modes) > 1:
            out += [MethodVariant(f"{name}[{mode}]", name, kind, method.configure(access=mode))
                    for mode in method.access_modes]
        else:
            out.append(MethodVariant(name, name, kind))
    return out


def build_suspects(victim: Path, attacks: Sequence[AttackSpec], models_dir: Path, *,
                   unrelated: Sequence[Path] = (), progress: bool = False) -> list[Suspect]:
    from ..attacks import derive

    def parent(value: Any) -> Any:
        # "@KIND" names another parent for a merge: the victim after attack KIND, built first
        if not (isinstance(value, str) and value.startswith("@")):
            return value
        return str(derive(victim, value[1:], models_dir / f"parent-{value[1:]}", progress=progress))

    suspects = []
    for spec in attacks:
        slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec.label)
        options = {k: parent(v) for k, v in spec.options.items()}
        path = derive(victim, spec.kind, models_dir / slug, progress=progress, **options)
        suspects.append(Suspect(spec.label, path, spec.truth, spec.kind))
    for path in unrelated:
        path = Path(path)
        name = path.name if path.name not in {s.name for s in suspects} else str(path)
        suspects.append(Suspect(name, path, "unrelated", ""))
    return suspects


def evaluate(victim: str | Path, attacks: Sequence[AttackSpec] | str, out_dir: str | Path, *,
             unrelated: Sequence[str | Path] = (), methods: Iterable[str] | None = None,
             references: Sequence[str | Path] = (), cache: str | Path | None = None,
             progress: bool = True) -> Evaluation:
    """Derive the suspects, score every (method variant, suspect) pair, and summarise per method.

    ``references`` are models unrelated to the victim for the methods' nulls (with those of
    ``$LLM_LINEAGE_REFERENCES``); no model is trained for a null here. ``cache`` defaults to
    ``out_dir/cache.json``; derived models go to ``out_dir/models``.
    """
    start = time.perf_counter()
    victim, out_dir = Path(victim), Path(out_dir)
    if not (victim / "config.json").is_file():
        raise InputError(f"victim {victim} is not a model directory with config.json")
    specs = parse_attacks(attacks) if isinstance(attacks, str) else list(attacks)
    variants = method_variants(methods)
    if not variants:
        raise InputError("no fingerprint methods are registered", hint="install the method packages")
    suspects = build_suspects(victim, specs, out_dir / "models", unrelated=[Path(p) for p in unrelated],
                              progress=progress)
    store = ResultCache(cache or out_dir / "cache.json")
    refs = tuple(Path(p) for p in references)
    pairs = []
    with _progress.progress("evaluating", total=len(variants) * len(suspects)) if progress else nullcontext() as bar:
        for variant in variants:
            for suspect in suspects:
                if bar is not None:
                    bar.describe(f"{variant.name} vs {suspect.name}")
                pairs.append(_score_pair(variant, victim, suspect, store, refs))
                if bar is not None:
                    bar.advance()
    summaries = [summarise(v.name, v.kind, [p for p in pairs if p.method == v.name]) for v in variants]
    return Evaluation("evaluation", victim, suspects, pairs, summaries, time.perf_counter() - start)


def _score_pair(variant: MethodVariant, victim: Path, suspect: Suspect, store: ResultCache,
                references: Sequence[Path]) -> PairResult:
    from .._json import to_jsonable

    key = store.key(variant.name, victim, suspect.path, references)
    hit = store.get(key)
    if hit is not None:
        return PairResult(**{**hit, "suspect": suspect.name, "attack": suspect.attack, "truth": suspect.truth,
                             "cached": True})
    t0 = time.perf_counter()
    try:
        result = variant(victim, suspect.path, references)
    except LineageError as exc:
        record: dict[str, Any] = dict(method=variant.name, suspect=suspect.name, attack=suspect.attack, truth=suspect.truth,
                      score=float("nan"), p_value=float("nan"), verdict=NOT_APPLICABLE, higher_is_related=True,
                      n_queries=None, seconds=time.perf_counter() - t0, note=f"{type(exc).__name__}: {exc}")
    else:
        queries = result.n_queries
        record = dict(method=variant.name, suspect=suspect.name, attack=suspect.attack, truth=suspect.truth,
                      score=float(result.score), p_value=float(result.p_value), verdict=str(Verdict(result.verdict)),
                      higher_is_related=result.higher_is_related, n_queries=None if queries is None else int(queries),
                      seconds=time.perf_counter() - t0, details=to_jsonable(result))
    store.put(key, record)
    return PairResult(**record)


def summarise(method: str, kind: str, pairs: Sequence[PairResult]) -> MethodSummary:
    usable = [p for p in pairs if p.verdict != NOT_APPLICABLE and np.isfinite(p.score)]
    distilled = [p for p in usable if p.truth == "distilled"]
    scored = [p for p in usable if p.truth != "distilled"]
    hir = scored[0].higher_is_related if scored else True
    labels = [int(p.truth == "derived") for p in scored]
    oriented = [p.related_score for p in scored]
    accuracy, cut = metrics.best_accuracy(labels, oriented)
    verdict_ok = [(p.verdict == Verdict.DERIVED.value) == (p.truth == "derived") for p in scored]
    queries = [p.n_queries for p in scored if p.n_queries is not None]
    return MethodSummary(
        method=method, kind=kind, higher_is_related=hir, auc=metrics.auc(labels, oriented),
        accuracy=accuracy, threshold=cut if hir else -cut,
        tpr_at_1pct_fpr=metrics.tpr_at_fpr(labels, oriented, 0.01),
        verdict_accuracy=float(np.mean(verdict_ok)) if verdict_ok else float("nan"),
        false_derived=sum(p.verdict == Verdict.DERIVED.value and p.truth == "unrelated" for p in scored),
        n_derived=sum(labels), n_unrelated=len(labels) - sum(labels),
        n_not_applicable=len(pairs) - len(scored),
        mean_queries=float(np.mean(queries)) if queries else None,
        distilled_derived=sum(p.verdict == Verdict.DERIVED.value for p in distilled), n_distilled=len(distilled))
