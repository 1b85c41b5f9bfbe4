"""The method contract: what every fingerprint method offers the CLI, the evaluation and the registry.

A method is a folder ``methods/<name>/`` holding a :class:`Method` subclass, and one line in
``methods/__init__.py`` that passes an instance to :func:`register`. Consumers call only what is
written here; nothing reflects on signatures or looks for optional attributes.

The pieces, in the order a comparison uses them:

* ``fingerprint(checkpoint, config)``: what is kept of one model (a frozen dataclass whose array
  fields are NumPy arrays, so that ``fingerprint_io`` can save it);
* ``score(owner_fp, suspect_fp, config)``: the bare statistic, no null and no verdict;
* ``null(owner_fp, config, references)``: the owner's scores against models known to be
  unrelated to it (a :class:`~llm_lineage.stats.NullCalibration`);
* ``compare(owner_fp, suspect_fp, *, null, config)``: score, p-value and verdict, as a
  :class:`Result` (or a subclass holding the method's own evidence);
* ``verify(owner, suspect, config, *, references)``: the template that runs the four from paths.

See ``CONTRIBUTING.md`` ("Add a method") for the checklist; ``methods/pcs`` is the worked example.
"""

from __future__ import annotations

import dataclasses
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from ..errors import InputError, KeyFileError, LineageError
from ..stats import NullCalibration, NullSummary, Verdict, calibrate

if TYPE_CHECKING:
    from ..weights import Checkpoint


class Kind(str, Enum):
    """What a method reads of the suspect."""

    WEIGHTS = "weights"   # white-box: both models' weights
    OUTPUTS = "outputs"   # black-box: next-token logits or log-probs
    TEXT = "text"         # black-box: generated text only

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True)
class Result:
    """What every method's comparison reports; a method's own result class adds its evidence."""

    method: str
    score: float
    p_value: float
    verdict: Verdict
    threshold: float = math.nan         # score an unrelated model passes with probability alpha
    higher_is_related: bool = True      # which way the score points
    null: NullSummary | None = None     # what the verdict was calibrated against
    notes: tuple[str, ...] = ()         # what a reader must know: why inconclusive, what was left out
    n_queries: int | None = None        # black-box: queries paid for the evidence
    owner: str = ""
    suspect: str = ""
    log10_p: float = math.nan           # log10 p where the test gives p below what a float holds (1e-308)

    @property
    def note(self) -> str:
        return "; ".join(self.notes)

    @property
    def neg_log10_p(self) -> float:
        """``-log10 p``, as large as the test gives it (a p-value of 0.0 is an underflow, not a certainty)."""
        if math.isfinite(self.log10_p):
            return -self.log10_p
        return -math.log10(self.p_value) if self.p_value > 0 else math.inf


FP = TypeVar("FP")
C = TypeVar("C")
R = TypeVar("R", bound=Result)

_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


class Method(ABC, Generic[FP, C, R]):
    """A fingerprint method. Subclasses set the class attributes and implement the four steps.

    Attributes
    ----------
    name : the registered name (lower case, digits and ``-``), as in ``compare --method NAME``.
    kind : :class:`Kind`.
    config_cls : a frozen dataclass whose fields are the method's options (all with defaults).
    fingerprint_cls : the fingerprint dataclass(es); fingerprint files may hold only these.
    higher_is_related : which way the score points.
    best_possible : the score of an identical copy (None: unbounded); with it, a null that even
        a copy could not beat gives ``inconclusive`` rather than ``unrelated``.
    access_modes : outputs methods: the access modes ``evaluate`` runs one variant for each.
    describe : one line for reports: what it measures, what it survives.
    exact_null : set by methods whose null is built inside ``compare`` from the pair itself (say
        how, for reports); ``null`` then reads no reference model.
    assumption : for reports: what would have to be true for the method's p-value to be wrong.
    plain : for conclusions a non-specialist reads: what the method compares, in plain words.
    """

    name: ClassVar[str]
    kind: ClassVar[Kind]
    config_cls: ClassVar[type]
    fingerprint_cls: ClassVar[tuple[type, ...]]
    higher_is_related: ClassVar[bool] = True
    best_possible: ClassVar[float | None] = None
    access_modes: ClassVar[tuple[str, ...]] = ()
    describe: ClassVar[str] = ""
    exact_null: ClassVar[str | None] = None
    assumption: ClassVar[str] = ("the reference models are unlike models unrelated to the owner (another recipe, "
                                 "other data), which makes the null too lenient or too strict")
    plain: ClassVar[str] = ""

    # --- options --------------------------------------------------------------------------------

    def default_config(self) -> C:
        config: C = self.config_cls()
        return config

    def option_names(self) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(self.config_cls))

    def configure(self, config: C | None = None, **options: Any) -> C:
        """``config`` (default: the defaults) with ``options`` replaced; ``None`` values are unset.

        An option the method does not have is an :class:`InputError`, never silently dropped.
        """
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(given) - self.option_names())
        if unknown:
            raise InputError(f"method {self.name!r} has no option {', '.join(unknown)}",
                             hint=f"its options: {', '.join(sorted(self.option_names()))}")
        base = config if config is not None else self.default_config()
        return dataclasses.replace(base, **given)  # type: ignore[type-var]  # config_cls is a dataclass

    # --- the four steps -------------------------------------------------------------------------

    @abstractmethod
    def fingerprint(self, source: Checkpoint, config: C) -> FP:
        """What is kept of one model."""

    @abstractmethod
    def score(self, owner_fp: FP, suspect_fp: Any, config: C) -> float:
        """The statistic alone (NaN where undefined for this pair)."""

    def null(self, owner_fp: FP, config: C, references: Sequence[Path]) -> NullCalibration:
        """The owner's scores against ``references``, models known to be unrelated to it.

        A reference the method cannot read or score (another vocabulary, another architecture) is
        left out of the null rather than counted: it is no evidence of how unrelated models score.
        A method with an ``exact_null`` needs no reference and reads none.
        """
        if self.exact_null is not None:
            return calibrate([], higher_is_related=self.higher_is_related, source=self.exact_null)
        from ..stats.nulls import null_score
        from ..weights import open_checkpoint

        def score(path: Path) -> float:
            return self.score(owner_fp, self.fingerprint(open_checkpoint(path), config), config)

        scores = [null_score(score, path) for path in references]
        return calibrate(scores, higher_is_related=self.higher_is_related, models=references,
                         source=f"{self.name} of the owner against unrelated reference models")

    @abstractmethod
    def compare(self, owner_fp: FP, suspect_fp: Any, *, null: NullCalibration | None, config: C) -> R:
        """Score, p-value against ``null`` and verdict (``inconclusive`` without a usable null)."""

    # --- the template ---------------------------------------------------------------------------

    def load_fingerprint(self, path: str | Path) -> FP | None:
        """The method's fingerprint stored in a fingerprint file, or None when ``path`` is a model."""
        from .fingerprint_io import is_fingerprint_file, load

        if not is_fingerprint_file(path):
            return None
        saved = load(path)[0]
        fp: FP | None = saved.get(self.name)
        if not isinstance(fp, self.fingerprint_cls):
            raise KeyFileError(f"{path} holds no {self.name!r} fingerprint (it has {', '.join(saved) or 'none'})",
                               hint=f"run `llm-lineage fingerprint MODEL --methods {self.name}`")
        return fp

    def fingerprint_of(self, model: str | Path | Checkpoint, config: C) -> FP:
        """A fingerprint file's stored fingerprint, or the fingerprint of a model path or checkpoint."""
        from ..weights import Checkpoint, open_checkpoint

        if isinstance(model, Checkpoint):
            return self.fingerprint(model, config)
        stored = self.load_fingerprint(model)
        return stored if stored is not None else self.fingerprint(open_checkpoint(model), config)

    def verify(self, owner: str | Path | Checkpoint, suspect: Any, config: C | None = None, *,
               references: Sequence[str | Path] = ()) -> R:
        """Fingerprint both sides, build the null from ``references`` and compare.

        ``references`` are candidate unrelated models; the owner's and the suspect's own files are
        never part of the null (see :func:`llm_lineage.references.reference_models`).
        """
        from ..references import reference_models

        config = config if config is not None else self.default_config()
        owner_fp = self.fingerprint_of(owner, config)
        suspect_fp = self.fingerprint_of(suspect, config)
        models = [] if self.exact_null else reference_models(extra=references, exclude=_paths(owner, suspect))
        null = self.null(owner_fp, config, models)
        return self.compare(owner_fp, suspect_fp, null=null, config=config)

    def plot(self, owner_fp: FP, suspect_fp: Any, result: R, path: Path) -> Path | None:
        """The method's comparison figure, or None when it has none."""
        return None

    @property
    def has_plot(self) -> bool:
        return type(self).plot is not Method.plot

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.kind})>"


def _paths(*models: Any) -> list[Path]:
    out = []
    for model in models:
        path = getattr(model, "path", model)
        if isinstance(path, (str, Path)):
            out.append(Path(path))
    return out


METHODS: dict[str, Method[Any, Any, Any]] = {}


def register(method: Method[Any, Any, Any]) -> Method[Any, Any, Any]:
    """Add ``method`` to :data:`METHODS`; a duplicate or malformed name is a programming error."""
    if not isinstance(method, Method):
        raise TypeError(f"register() takes a Method instance, not {type(method).__name__}")
    name = getattr(method, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"method name {name!r} must be lower case letters, digits and '-'")
    if name in METHODS:
        raise ValueError(f"a method named {name!r} is already registered ({METHODS[name]!r})")
    if not isinstance(getattr(method, "kind", None), Kind):
        raise ValueError(f"method {name!r} must set kind to a Kind")
    if not (dataclasses.is_dataclass(method.config_cls) and isinstance(method.fingerprint_cls, tuple)):
        raise ValueError(f"method {name!r} needs a dataclass config_cls and a tuple fingerprint_cls")
    METHODS[name] = method
    return method


def unregister(name: str) -> None:
    """Remove a registered method (tests that register a toy method clean up with this)."""
    METHODS.pop(name, None)


def get_method(name: str) -> Method[Any, Any, Any]:
    """The registered method ``name``; an unknown name is an :class:`InputError` listing the choices."""
    try:
        return METHODS[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; registered: {', '.join(METHODS) or 'none'}") from None


def methods_of(kind: Kind) -> list[str]:
    return [name for name, m in METHODS.items() if m.kind is kind]


def resolve(names: Sequence[str] | None, *, default: Sequence[Kind] | None = None) -> list[str]:
    """Registered method names, validated in one place: ``names``, or every method of the ``default``
    kinds (all methods when None). Duplicates are dropped; an unknown name is an InputError."""
    if names is None:
        return [n for n, m in METHODS.items() if default is None or m.kind in default]
    return [get_method(n).name for n in dict.fromkeys(names)]


def fingerprint_all(ckpt: Checkpoint, names: Sequence[str], *, configs: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """Each named method's fingerprint of ``ckpt``; a method that cannot apply gives its LineageError
    as the value (the caller decides whether that fails the whole run)."""
    out: dict[str, Any] = {}
    for name in names:
        method = get_method(name)
        config = (configs or {}).get(name) or method.default_config()
        try:
            out[name] = method.fingerprint(ckpt, config)
        except LineageError as exc:
            out[name] = exc
    return out
