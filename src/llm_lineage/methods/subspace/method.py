r"""The subspace method's entry points: :func:`verify`, :func:`compare`, and :class:`SubspaceResult`.

Evidence collection (``outputs.reconstruct.collect``, which counts the suspect's queries) is kept
apart from testing it against one key (:func:`compare`), so that one collection over the union of
several keys' tokens serves many owners (the registry does that).

Verdict:

* ``derived`` when the outputs are compatible (most within the precision floor, p < alpha
  against random outputs), or when alignment finds at most ``max_extra_fraction * hidden_size``
  extra dimensions and had room to find more (a merged lm_head LoRA of small rank);
* ``unrelated`` otherwise;
* ``inconclusive`` when there are too few tokens or outputs for p < alpha to be reachable at all.

References
----------
.. [1] Z. Yang, H. Wu, "A Fingerprint for Large Language Models", arXiv:2407.01235, 2024.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ... import corpus
from ...errors import InputError, VocabularyMismatch
from ...outputs.reconstruct import Evidence, collect
from ...outputs.source import OutputSource
from ...stats import NullCalibration, Verdict
from ...weights import Checkpoint
from ..base import Kind, Method, Result
from .config import SubspaceConfig
from .core import Alignment, Compatibility, alignment, compatibility, estimate_hidden_size
from .key import SubspaceKey, load_owner, owner_key


@dataclass(frozen=True)
class SubspaceResult(Result):
    """Does the suspect's output space sit inside the owner's lm_head span? With the numbers behind it.

    ``score``: -log10(median relative residual), orders of magnitude inside span(W); ``p_value``:
    of the test that decided (``decided_by``); ``threshold``: the score at the compatibility
    threshold (-log10 of the median tau_i).
    """

    false_positive_rate: float    # of the test that decided, against random outputs
    decided_by: str               # "compatibility", "alignment" or "none"
    access: str
    n_outputs: int
    n_tokens: int
    compatibility: Compatibility
    alignment: Alignment
    estimated_hidden_size: int
    hidden_size_is_lower_bound: bool
    precision: str                # compute dtype and rounding of the evidence

    @property
    def extra_dims(self) -> int:
        return self.alignment.extra_dimensions

    @property
    def spectrum(self) -> tuple[float, ...]:
        return self.alignment.spectrum


def compare(owner: SubspaceKey, evidence: Evidence, *, config: SubspaceConfig = SubspaceConfig(),
            suspect_name: str = "suspect") -> SubspaceResult:
    """Test collected evidence against one owner key (no queries are made here)."""
    tokens = key_tokens(owner, config)
    tokens = tokens[np.isin(tokens, evidence.token_ids)]
    if len(tokens) == 0:
        raise InputError(f"the evidence shares no token with the key of {owner.model_name}")
    evidence = evidence.restrict(tokens)
    basis, rank = owner.restrict(tokens)
    m = len(tokens) - rank
    compat, whitened = compatibility(basis, rank, evidence.values, evidence.noise_sd,
                                     alpha=config.alpha, noise_margin=config.noise_margin)
    width = estimate_hidden_size(evidence.values, evidence.noise_sd, noise_margin=config.noise_margin)
    norms = np.linalg.norm(evidence.values - evidence.values.mean(axis=1, keepdims=True), axis=1)
    align = alignment(basis, whitened, norms / np.maximum(evidence.noise_sd, np.finfo(float).tiny),
                      hidden_size=owner.hidden_size, suspect_width=width.hidden_size,
                      max_extra_fraction=config.max_extra_fraction, noise_margin=config.noise_margin,
                      n_null=config.n_null, seed=config.seed)

    precision = evidence.compute_dtype + (f", log-probs rounded to {evidence.decimals} decimals"
                                          if evidence.decimals is not None else "")
    # the best any suspect could do: every output within noise
    reachable = m > 0 and compat.false_positive_rate ** evidence.n_outputs < config.alpha
    note = ""
    if not reachable:
        verdict, decided_by, p_value, fpr = Verdict.INCONCLUSIVE, "none", compat.p_value, compat.false_positive_rate
        note = (f"{len(tokens)} tokens leave {m} dimensions outside span(W): too few for p < {config.alpha} "
                f"at this precision ({precision}); use more tokens or outputs")
    elif compat.compatible:
        verdict, decided_by, p_value, fpr = Verdict.DERIVED, "compatibility", compat.p_value, compat.false_positive_rate
    elif align.feasible:
        # few extra dimensions, and fewer than an unrelated head of the suspect's width would need
        derived = align.extra_dimensions <= align.max_extra and align.p_value < config.alpha
        verdict = Verdict.DERIVED if derived else Verdict.UNRELATED
        decided_by, p_value, fpr = "alignment", align.p_value, align.false_positive_rate
    else:
        verdict, decided_by, p_value, fpr = Verdict.UNRELATED, "compatibility", compat.p_value, compat.false_positive_rate
        note = (f"alignment needs more than {align.max_extra} outputs and free dimensions (has "
                f"{min(m, evidence.n_outputs)}); a suspect with a re-trained lm_head also looks unrelated here")
    median = compat.median_residual
    return SubspaceResult(
        method="subspace", score=-math.log10(median) if median > 0 else math.inf, p_value=float(p_value),
        verdict=verdict, threshold=-math.log10(compat.threshold) if compat.threshold > 0 else math.inf,
        false_positive_rate=float(fpr), decided_by=decided_by, access=evidence.access,
        n_queries=evidence.n_queries, n_outputs=evidence.n_outputs, n_tokens=len(tokens),
        compatibility=compat, alignment=align, estimated_hidden_size=width.hidden_size,
        hidden_size_is_lower_bound=width.lower_bound, owner=owner.model_name, suspect=suspect_name,
        precision=precision, notes=(note,) if note else ())


class SubspaceMethod(Method[SubspaceKey, SubspaceConfig, SubspaceResult]):
    """The logit-subspace test as a registered method.

    The owner's fingerprint is its key; the suspect's "fingerprint" is the evidence collected
    from its outputs (an :class:`~llm_lineage.outputs.Evidence`), which the test needs rather
    than weights. Its null is exact and built inside :func:`compare`: residuals of random outputs
    of the evidence's shape and precision (compatibility) and random heads of the suspect's
    estimated width (alignment), so ``references`` are not used; the registry adds its own
    null of other owners' keys on the same evidence.
    """

    name = "subspace"
    kind = Kind.OUTPUTS
    config_cls = SubspaceConfig
    fingerprint_cls = (SubspaceKey,)
    exact_null = "exact: simulated random outputs, built inside compare"
    access_modes = ("logits", "probs", "topk", "top1")
    describe = ("black-box: residual of the suspect's next-token log-probs to span([lm_head, 1]) and the extra "
                "dimensions they need; survives any change inside the network, not a re-trained lm_head")

    def fingerprint(self, source: Checkpoint, config: SubspaceConfig) -> SubspaceKey:
        return owner_key(source, n_tokens=config.owner_tokens)

    def score(self, owner_fp: SubspaceKey, suspect_fp: Evidence, config: SubspaceConfig) -> float:
        return compare(owner_fp, suspect_fp, config=config).score

    def compare(self, owner_fp: SubspaceKey, suspect_fp: Evidence, *, null: NullCalibration | None,
                config: SubspaceConfig) -> SubspaceResult:
        return compare(owner_fp, suspect_fp, config=config)

    def load_fingerprint(self, path: str | Path) -> SubspaceKey | None:
        return load_owner(path) if Path(path).is_file() else None

    def verify(self, owner: SubspaceKey | str | Path | Checkpoint, suspect: Any,
               config: SubspaceConfig | None = None, *, references: Sequence[str | Path] = ()) -> SubspaceResult:
        owner = owner_key(owner) if isinstance(owner, Checkpoint) else owner
        return verify(owner, suspect, config if config is not None else SubspaceConfig())


SUBSPACE = SubspaceMethod()


def verify(owner: SubspaceKey | str | Path, suspect: OutputSource | str | Path,
           config: SubspaceConfig = SubspaceConfig()) -> SubspaceResult:
    r"""Test whether the suspect's outputs lie in the span of the owner's lm_head.

    W = lm_head, shape (vocab_size, hidden_size); Q an orthonormal basis of span([W_T, 1]) on the
    key's tokens T; s_i the suspect's next-token logits (up to a constant) after prompt i::

        r_i = ||s_i - Q Q^T s_i||_2 / ||s_i - mean(s_i)||_2

    A copy sits at its floating-point noise floor; an unrelated model orders of magnitude above.

    Parameters
    ----------
    owner : a :class:`SubspaceKey`, a key file from ``llm-lineage fingerprint``, or a model path.
    suspect : an :class:`OutputSource`, or a local model directory (queried as ``config.access``).
    config : :class:`SubspaceConfig`.

    References
    ----------
    .. [1] Z. Yang, H. Wu, "A Fingerprint for Large Language Models", arXiv:2407.01235.
    """
    key = load_owner(owner)
    if not isinstance(suspect, OutputSource):
        from ...outputs import open_suspect

        suspect = open_suspect(suspect, access=config.access, top_k=config.top_k or 5)
    if suspect.vocab_size != key.vocab_size:
        raise VocabularyMismatch(f"the key of {key.model_name} covers a vocabulary of {key.vocab_size} tokens, "
                                 f"{suspect.name} has {suspect.vocab_size}",
                                 hint="the subspace test compares outputs token by token: same tokenizer needed")
    evidence = collect(suspect, key_tokens(key, config), prompts_for(key, config), access=config.access,
                       top_k=config.top_k, initial_bias=config.initial_bias, progress=config.progress)
    return compare(key, evidence, config=config, suspect_name=suspect.name)


def prompts_for(key: SubspaceKey, config: SubspaceConfig) -> tuple[str, ...]:
    """``n_outputs`` prompts of the built-in varied set, stories and manuals mixed (fixed order)."""
    n = config.n_outputs if config.n_outputs is not None else key.hidden_size + 32
    if not 1 <= n <= len(corpus.PROMPTS):
        raise InputError(f"n_outputs must be between 1 and {len(corpus.PROMPTS)} (the built-in prompts); got {n}")
    # the set lists stories first; a fixed shuffle gives varied contexts for any n
    order = np.random.default_rng(0).permutation(len(corpus.PROMPTS))[:n]
    return tuple(corpus.PROMPTS[i] for i in order)


def key_tokens(key: SubspaceKey, config: SubspaceConfig) -> np.ndarray:
    """The key's tokens the test uses: all of them, or a seeded subset of ``config.n_tokens``."""
    n = config.n_tokens
    if n is None or n >= key.n_tokens:
        return key.token_ids
    if n < key.rank + 1:
        raise InputError(f"n_tokens must exceed the key's rank {key.rank} (got {n})")
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(key.token_ids, size=n, replace=False))

