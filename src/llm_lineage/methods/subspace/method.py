r"""The subspace method's entry points: :func:`verify`, :func:`compare`, and :class:`SubspaceResult`.

Evidence collection (``outputs.reconstruct.collect``, which counts the suspect's queries) is kept
apart from testing it against one key (:func:`compare`), so that one collection over the union of
several keys' tokens serves many owners (the registry does that).

Verdict, graded by how the suspect's lm_head relates to the owner's:

1. ``derived (exact lm_head)``: the outputs are compatible, most within the precision floor of the
   evidence (p < alpha against random outputs, :mod:`.core`);
2. ``derived (exact copy at Q8_0)``: the same test against the owner's head as a re-saved or
   quantised copy holds it (:mod:`.precisions`: float16, bfloat16, GGUF types, int8/int4 groups),
   Bonferroni over the precisions; needs no reference model;
3. ``derived (lm_head changed in k dimensions)``: alignment finds at most ``max_extra_fraction *
   hidden_size`` extra dimensions and had room to find more (a merged lm_head LoRA of small rank);
4. ``unrelated``: the outputs span another number of dimensions than the owner's lm_head has
   (copies, quantisations, fine-tunes and LoRAs all keep the width), with that reason;
5. otherwise the lm_head was perturbed (fine-tuned, pruned, quantised with calibration data) or is
   another model's of the same width: the score is tested against the null of unrelated language
   models with the owner's tokenizer (:mod:`.lm_null`), ``derived (perturbed lm_head: ...)`` when
   p < alpha, ``unrelated`` when p > 0.1, ``inconclusive`` between; the size of the change is
   estimated (:mod:`.perturbation`);
6. ``inconclusive`` when there are too few tokens or outputs for p < alpha to be reachable at all,
   or when no reference model shares the owner's tokenizer (then the note says what to add).

References
----------
.. [1] Z. Yang, H. Wu, "A Fingerprint for Large Language Models", arXiv:2407.01235, 2024.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ... import corpus
from ...errors import InputError, VocabularyMismatch
from ...outputs.reconstruct import Evidence, collect
from ...outputs.source import OutputSource
from ...stats import NullCalibration, Verdict, calibrate, verdict_of
from ...stats.nulls import summarize
from ...weights import Checkpoint
from ..base import Kind, Method, Result
from . import perturbation
from .config import SubspaceConfig
from .core import Alignment, Compatibility, HiddenSizeEstimate, alignment, compatibility, estimate_hidden_size
from .key import SubspaceKey, load_owner, orthonormal_basis, owner_key
from .lm_null import language_model_null
from .precisions import precisions, relative_change

NEEDS_REFERENCES = ("pass --null MODEL_DIR for at least one unrelated model with the same tokenizer (two for a "
                    "null without the suspect), or set LLM_LINEAGE_REFERENCES to a folder of such models")


@dataclass(frozen=True)
class SubspaceResult(Result):
    """Does the suspect's output space sit inside the owner's lm_head span? With the numbers behind it.

    ``score``: -log10(median relative residual), orders of magnitude inside span(W); ``p_value``:
    of the test that decided (``decided_by``); ``threshold``: the score at the compatibility
    threshold (-log10 of the median tau_i); ``null``: the language-model null, when one was built.
    """

    false_positive_rate: float    # of the test that decided, against its null
    decided_by: str               # "compatibility", "alignment", "language-model null" or "none"
    access: str
    n_outputs: int
    n_tokens: int
    compatibility: Compatibility
    alignment: Alignment
    perturbation: perturbation.Perturbation
    grade: str                    # what kind of derivation: "exact lm_head", "perturbed lm_head: ..."
    needs_references: bool        # neither exact nor low-rank, and no language-model null to decide
    estimated_hidden_size: int
    hidden_size_is_lower_bound: bool
    precision: str                # compute dtype and rounding of the evidence

    @property
    def graded_verdict(self) -> str:
        return f"{self.verdict.value} ({self.grade})" if self.verdict == Verdict.DERIVED else self.verdict.value

    @property
    def extra_dims(self) -> int:
        return self.alignment.extra_dimensions

    @property
    def spectrum(self) -> tuple[float, ...]:
        return self.alignment.spectrum


def compare(owner: SubspaceKey, evidence: Evidence, *, config: SubspaceConfig = SubspaceConfig(),
            suspect_name: str = "suspect", references: Sequence[str | Path] = (),
            null: NullCalibration | None = None) -> SubspaceResult:
    """Test collected evidence against one owner key (no suspect queries are made here).

    ``null`` is a language-model null already built (the registry's); otherwise one is built from
    ``references`` (models with the owner's tokenizer, run locally) when the outputs are neither
    exact nor a low-rank change.
    """
    tokens = key_tokens(owner, config)
    tokens = tokens[np.isin(tokens, evidence.token_ids)]
    if len(tokens) == 0:
        raise InputError(f"the evidence shares no token with the key of {owner.model_name}")
    evidence = evidence.restrict(tokens)
    basis, singular_values = owner.frame(tokens)
    rank = len(singular_values)
    m = len(tokens) - rank
    compat, whitened = compatibility(basis, rank, evidence.values, evidence.noise_sd,
                                     alpha=config.alpha, noise_margin=config.noise_margin)
    width = estimate_hidden_size(evidence.values, evidence.noise_sd, noise_margin=config.noise_margin)
    norms = np.linalg.norm(evidence.values - evidence.values.mean(axis=1, keepdims=True), axis=1)
    align = alignment(basis, whitened, norms / np.maximum(evidence.noise_sd, np.finfo(float).tiny),
                      hidden_size=owner.hidden_size, suspect_width=width.hidden_size,
                      max_extra_fraction=config.max_extra_fraction, noise_margin=config.noise_margin,
                      n_null=config.n_null, seed=config.seed)
    change = perturbation.estimate(basis, singular_values, owner.hidden_size, evidence.values, evidence.noise_sd)
    median = compat.median_residual
    score = -math.log10(median) if median > 0 else math.inf

    precision = evidence.compute_dtype + (f", log-probs rounded to {evidence.decimals} decimals"
                                          if evidence.decimals is not None else "")
    # the best any suspect could do: every output within noise
    reachable = m > 0 and compat.false_positive_rate ** evidence.n_outputs < config.alpha
    notes: list[str] = []
    grade, lm_null, needs_references = "", None, False
    if not reachable:
        verdict, decided_by, p_value, fpr = Verdict.INCONCLUSIVE, "none", compat.p_value, compat.false_positive_rate
        notes.append(f"{len(tokens)} tokens leave {m} dimensions outside span(W): too few for p < {config.alpha} "
                     f"at this precision ({precision}); use more tokens or outputs")
    elif compat.compatible:
        verdict, decided_by, p_value, fpr = Verdict.DERIVED, "compatibility", compat.p_value, compat.false_positive_rate
        grade = "exact lm_head"
    elif (shipped := shipped_copy(owner, tokens, evidence, change.relative_change, config)).compatibility is not None:
        verdict, decided_by = Verdict.DERIVED, f"compatibility at {shipped.precision}"
        p_value = min(1.0, shipped.compatibility.p_value * shipped.n_hypotheses)
        fpr = shipped.compatibility.false_positive_rate
        grade = f"exact copy at {shipped.precision}"
    elif align.feasible and align.extra_dimensions <= align.max_extra and align.p_value < config.alpha:
        # few extra dimensions, and fewer than an unrelated head of the suspect's width would need
        verdict, decided_by, p_value, fpr = Verdict.DERIVED, "alignment", align.p_value, align.false_positive_rate
        grade = f"lm_head changed in {align.extra_dimensions} dimension(s): a low-rank update"
    elif (why := width_rules_out(owner, width)) is not None:
        verdict, decided_by, p_value, fpr = Verdict.UNRELATED, "output rank", compat.p_value, config.alpha
        notes.append(why)
    else:
        notes.append(shipped.summary)
        lm_null = null if null is not None else language_model_null(
            owner, tokens, evidence.prompts, [Path(r) for r in references], evidence)
        p_value = lm_null.prediction_p_value(min(score, 324.0)) if lm_null.n >= 2 else math.nan
        decided_by, fpr = "language-model null", config.alpha
        needs_references = math.isnan(p_value)
        if needs_references:
            verdict, decided_by = Verdict.INCONCLUSIVE, "none"
            notes.append(f"not the owner's exact lm_head ({change.description}); telling a perturbed copy from an "
                         f"unrelated model needs models with the owner's tokenizer: {NEEDS_REFERENCES}")
        else:
            verdict = verdict_of(p_value, alpha=config.alpha)
            grade = f"perturbed lm_head: {change.description}" if verdict is Verdict.DERIVED else ""
    return SubspaceResult(
        method="subspace", score=score, p_value=float(p_value),
        verdict=verdict, threshold=-math.log10(compat.threshold) if compat.threshold > 0 else math.inf,
        null=summarize(lm_null) if lm_null is not None else None,
        false_positive_rate=float(fpr), decided_by=decided_by, access=evidence.access,
        n_queries=evidence.n_queries, n_outputs=evidence.n_outputs, n_tokens=len(tokens),
        compatibility=compat, alignment=align, perturbation=change, grade=grade, needs_references=needs_references,
        estimated_hidden_size=width.hidden_size, hidden_size_is_lower_bound=width.lower_bound,
        owner=owner.model_name, suspect=suspect_name, precision=precision, notes=tuple(notes))


@dataclass(frozen=True)
class ShippedCopy:
    """The exact tests at redistribution precisions (:mod:`.precisions`): the first that passed."""

    precision: str
    compatibility: Compatibility | None   # None: no precision explains the outputs
    n_hypotheses: int                      # precisions applicable to this head: the Bonferroni factor
    summary: str                           # what was tried, for a reader


def shipped_copy(owner: SubspaceKey, tokens: np.ndarray, evidence: Evidence, estimated_change: float,
                 config: SubspaceConfig, *, max_tries: int = 4) -> ShippedCopy:
    """Is the suspect's head ``T(W)`` for a precision ``T`` copies are shipped at?

    Every applicable precision is a hypothesis (Bonferroni over all of them, whichever are tried);
    the ``max_tries`` whose change of ``W_T`` is closest to the change the outputs show are tested
    (each test is an SVD of the key's rows: at hidden 4096, seconds).
    """
    available, missing = precisions()
    not_here = f"; not available here: {', '.join(missing)} (pip install \"llm-lineage[llamacpp]\")" if missing else ""
    if owner.head_rows is None or owner.has_bias:
        why = "a key written before version 0.4" if owner.head_rows is None else "an lm_head with a bias"
        return ShippedCopy("", None, 0, f"the exact tests at shipping precisions need the key's lm_head rows "
                                        f"({why}): re-fingerprint the owner")
    rows = owner.head_rows[np.searchsorted(owner.token_ids, tokens)]
    usable = [p for p in available if rows.shape[1] % p.block == 0]
    ranked = []
    for precision in usable:
        shipped = precision.apply(rows)
        change = relative_change(rows, shipped)
        if change > 0:  # a precision the head is already at is the exact test, done before
            target = estimated_change if math.isfinite(estimated_change) and estimated_change > 0 else change
            ranked.append((abs(math.log(change / target)), precision.name, shipped))
    ranked.sort(key=lambda item: item[0])
    tried = []
    for _, name, shipped in ranked[:max_tries]:
        basis, rank = orthonormal_basis(np.hstack([shipped.astype(np.float64), np.ones((len(rows), 1))]))
        result, _ = compatibility(basis, rank, evidence.values, evidence.noise_sd,
                                  alpha=config.alpha / max(len(usable), 1), noise_margin=config.noise_margin)
        tried.append(name)
        if result.compatible:
            return ShippedCopy(name, result, len(usable), f"an exact copy at {name}")
    return ShippedCopy("", None, len(usable), f"not a copy at any common precision (tested the closest: "
                       f"{', '.join(tried) or 'none'}; {len(usable)} applicable){not_here}")


def width_rules_out(owner: SubspaceKey, width: HiddenSizeEstimate) -> str | None:
    """Why the suspect's output rank rules out a copy, quantisation, fine-tune or LoRA of the owner's
    lm_head (all of which keep its width), or None when the widths agree within the estimate's error."""
    expected = owner.hidden_size + int(owner.has_bias)
    slack = max(3, math.ceil(0.02 * expected))
    found = f"{width.hidden_size}{'+' if width.lower_bound else ''}"
    if width.hidden_size > expected + slack or (not width.lower_bound and width.hidden_size < expected - slack):
        return (f"its outputs span {found} dimensions, the owner's lm_head {expected}: no copy, quantisation, "
                f"fine-tune or LoRA of the owner's lm_head changes its width; a thief would have had to "
                f"replace the output layer and retrain the model under it")
    return None


class SubspaceMethod(Method[SubspaceKey, SubspaceConfig, SubspaceResult]):
    """The logit-subspace test as a registered method.

    The owner's fingerprint is its key; the suspect's "fingerprint" is the evidence collected
    from its outputs (an :class:`~llm_lineage.outputs.Evidence`), which the test needs rather
    than weights. The exact and low-rank regimes have exact nulls built inside :func:`compare`
    (random outputs, random heads); a perturbed lm_head is tested against the null of unrelated
    language models with the owner's tokenizer (:mod:`.lm_null`), built from ``references``.
    """

    name = "subspace"
    kind = Kind.OUTPUTS
    config_cls = SubspaceConfig
    fingerprint_cls = (SubspaceKey,)
    access_modes = ("logits", "probs", "topk", "top1")
    plain = "the suspect's next-token outputs, against the span of the owner's output layer"
    assumption = ("exact copy, shipping precision, low rank and width: that the suspect's outputs are what it "
                  "computes (not post-processed) and the precision model of its arithmetic; the perturbed case: that "
                  "the reference models are like models unrelated to the owner")
    describe = ("black-box: residual of the suspect's next-token log-probs to span([lm_head, 1]); exact, low-rank "
                "or perturbed (quantised, tuned) lm_heads, calibrated against unrelated models of the tokenizer")

    def fingerprint(self, source: Checkpoint, config: SubspaceConfig) -> SubspaceKey:
        return owner_key(source, n_tokens=config.owner_tokens)

    def score(self, owner_fp: SubspaceKey, suspect_fp: Evidence, config: SubspaceConfig) -> float:
        return compare(owner_fp, suspect_fp, config=config, null=NO_NULL).score

    def null(self, owner_fp: SubspaceKey, config: SubspaceConfig, references: Sequence[Path]) -> NullCalibration:
        """Pairs (a) and (b) of :mod:`.lm_null` on the prompts :func:`verify` would ask."""
        return language_model_null(owner_fp, key_tokens(owner_fp, config), prompts_for(owner_fp, config), references)

    def compare(self, owner_fp: SubspaceKey, suspect_fp: Evidence, *, null: NullCalibration | None,
                config: SubspaceConfig) -> SubspaceResult:
        return compare(owner_fp, suspect_fp, config=config, null=null if null is not None else NO_NULL)

    def load_fingerprint(self, path: str | Path) -> SubspaceKey | None:
        return load_owner(path) if Path(path).is_file() else None

    def verify(self, owner: SubspaceKey | str | Path | Checkpoint, suspect: Any,
               config: SubspaceConfig | None = None, *, references: Sequence[str | Path] = ()) -> SubspaceResult:
        owner = owner_key(owner) if isinstance(owner, Checkpoint) else owner
        return verify(owner, suspect, config if config is not None else SubspaceConfig(), references=references)


SUBSPACE = SubspaceMethod()
NO_NULL = calibrate([], higher_is_related=True, source="none given")


def verify(owner: SubspaceKey | str | Path, suspect: OutputSource | str | Path,
           config: SubspaceConfig = SubspaceConfig(), *, references: Sequence[str | Path] = ()) -> SubspaceResult:
    r"""Test whether the suspect's outputs lie in the span of the owner's lm_head.

    W = lm_head, shape (vocab_size, hidden_size); Q an orthonormal basis of span([W_T, 1]) on the
    key's tokens T; s_i the suspect's next-token logits (up to a constant) after prompt i::

        r_i = ||s_i - Q Q^T s_i||_2 / ||s_i - mean(s_i)||_2

    A copy sits at its floating-point noise floor; a quantised or tuned copy a little above it;
    an unrelated model with the same tokenizer far above (see the module docstring).

    Parameters
    ----------
    owner : a :class:`SubspaceKey`, a key file from ``llm-lineage fingerprint``, or a model path.
    suspect : an :class:`OutputSource`, or a local model directory (queried as ``config.access``).
    config : :class:`SubspaceConfig`.
    references : models unrelated to the owner with its tokenizer, for the language-model null
        (with those of ``$LLM_LINEAGE_REFERENCES``; the owner's and suspect's families left out).

    References
    ----------
    .. [1] Z. Yang, H. Wu, "A Fingerprint for Large Language Models", arXiv:2407.01235.
    """
    key = load_owner(owner)
    if not isinstance(suspect, OutputSource):
        from ...outputs import open_suspect

        suspect = open_suspect(suspect, access=config.access, top_k=config.top_k or 5)
    tokens = key_tokens(key, config)
    asked, mapping = suspect_ids(key, tokens, suspect)
    evidence = collect(suspect, asked, prompts_for(key, config), access=config.access,
                       top_k=config.top_k, initial_bias=config.initial_bias, progress=config.progress)
    if mapping:  # the outputs, read on the suspect's ids, are the owner's tokens' outputs
        evidence = replace(evidence, token_ids=tokens[np.isin(tokens, list(mapping))])
    result = compare(key, evidence, config=config, suspect_name=suspect.name,
                     references=null_references(key, references, owner, suspect))
    if mapping:
        result = replace(result, notes=(*result.notes, f"token ids mapped by string through {suspect.name}'s "
                                        f"tokenizer: {len(mapping)} of the key's {len(tokens)} tokens found"))
    return result


def suspect_ids(key: SubspaceKey, tokens: np.ndarray, suspect: OutputSource) -> tuple[np.ndarray, dict[int, int]]:
    """The suspect's ids to ask for the key's ``tokens``, and the owner id -> suspect id mapping used
    (empty when the ids are the owner's: same vocabulary, or nothing to map with).

    A thief may shuffle the ids or append tokens (``attack --kind shuffle-vocab / extend-vocab``):
    the token *strings* stay, so a local suspect's tokenizer maps the key's pieces onto its ids.
    """
    tokenizer = getattr(suspect, "tokenizer", None) or getattr(getattr(suspect, "model", None), "tokenizer", None)
    if tokenizer is not None and key.token_strings:
        index = dict(zip(key.token_ids.tolist(), key.token_strings, strict=True))
        found = tokenizer.convert_tokens_to_ids([index[int(t)] for t in tokens])
        unk = tokenizer.unk_token_id
        mapping = {int(t): int(i) for t, i in zip(tokens, found, strict=True)
                   if i is not None and (i != unk or index[int(t)] == tokenizer.unk_token) and i < suspect.vocab_size}
        if all(mapping.get(int(t)) == int(t) for t in tokens):
            return tokens, {}
        if len(mapping) < key.rank + 2:
            raise VocabularyMismatch(f"only {len(mapping)} of the key's {len(tokens)} token strings are in "
                                     f"{suspect.name}'s vocabulary: too few to test its outputs")
        return np.array([mapping[int(t)] for t in tokens if int(t) in mapping], dtype=np.int64), mapping
    if suspect.vocab_size != key.vocab_size:
        raise VocabularyMismatch(f"the key of {key.model_name} covers a vocabulary of {key.vocab_size} tokens, "
                                 f"{suspect.name} has {suspect.vocab_size}",
                                 hint="the subspace test compares outputs token by token: the suspect's tokenizer "
                                      "(a local model) maps a changed vocabulary; an endpoint needs the owner's")
    return tokens, {}


def null_references(key: SubspaceKey, extra: Sequence[str | Path], *models: Any) -> list[Path]:
    """Candidate reference models for the language-model null: ``extra`` and the reference folder,
    without the owner's and the suspect's files and families (the key's model name counts too)."""
    from ...references import reference_models

    exclude = [Path(key.model_name)]
    for model in models:
        path = getattr(model, "path", model)
        if isinstance(path, (str, Path)):
            exclude.append(Path(path))
    return reference_models(extra=extra, exclude=exclude)


def prompts_for(key: SubspaceKey, config: SubspaceConfig) -> tuple[str, ...]:
    """``n_outputs`` prompts of the versioned set (:func:`~llm_lineage.corpus.query_prompts`), any number."""
    n = config.n_outputs if config.n_outputs is not None else key.hidden_size + 32
    if n < 1:
        raise InputError(f"n_outputs must be at least 1; got {n}")
    return corpus.query_prompts(n)


def key_tokens(key: SubspaceKey, config: SubspaceConfig) -> np.ndarray:
    """The key's tokens the test uses: all of them, or a seeded subset of ``config.n_tokens``."""
    n = config.n_tokens
    if n is None or n >= key.n_tokens:
        return key.token_ids
    if n < key.rank + 1:
        raise InputError(f"n_tokens must exceed the key's rank {key.rank} (got {n})")
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(key.token_ids, size=n, replace=False))

