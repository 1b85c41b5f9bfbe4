r"""The subspace test's null of language models: what unrelated models with the owner's tokenizer give.

A random vector sits far from span([W_T, 1]) (median relative residual ~0.8); an unrelated
*language model* with the owner's tokenizer sits much closer, because models of one vocabulary
share output structure (token frequencies, which tokens go together). Measured on the owner key of
``stories260k``: the independent ``llama2xs`` (same tokenizer) gives 0.15, while the key's own
copies give 0.0023 at 8 bits per weight and 0.035 at 4 bits; four zoo models of one tokenizer
give 0.14 to 0.18 on each other's keys. Models of *another* tokenizer with the same vocabulary
size give 0.3 to 0.7, so they are no null for this owner and are left out.

Null hypothesis H0: the suspect is a language model trained independently of the owner, with the
owner's tokenizer. Statistic: the test's score, ``-log10(median relative residual)``. Its null is
estimated from pairs of models known to be unrelated that share the tokenizer:

(a) the owner's key against each reference model's outputs on the evidence's prompts;
(b) each reference's own key against each other reference's outputs;
(c) each reference's key against the suspect's own evidence. Unrelated under H0 as well; should the
    suspect derive from a reference, the pair scores high, widening the null: more conservative,
    never less.

Reference outputs are full fp32 logits computed here (no suspect query is spent); they are kept on
disk by model and prompts. Treating the pairs' log residuals as exchangeable draws of one normal
law, the p-value of the suspect's score is the Student-t prediction p-value with ``n - 1`` degrees
of freedom (:meth:`~llm_lineage.stats.NullCalibration.prediction_p_value`). Pairs that share a
model are not independent, so this is an approximation; ``benchmarks/subspace_lm_null.py`` measures
the false-positive rate it gives over every unrelated same-tokenizer pair at hand.

References
----------
.. [1] Z. Yang, H. Wu, "A Fingerprint for Large Language Models", arXiv:2407.01235, 2024.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import LineageError
from ...outputs.reconstruct import Evidence
from ...stats import NullCalibration, calibrate
from ...weights import Checkpoint
from .core import residuals
from .key import SubspaceKey, owner_key

COPY_SCORE = 4.0  # median residual below 1e-4: fp16 rounding at most, an exact lm_head
MAX_SCORE = 324.0  # -log10 of the smallest positive double
SOURCE = "unrelated language models with the owner's tokenizer (pairs of references, their keys and the suspect)"


@dataclass(frozen=True)
class _Reference:
    name: str
    key: SubspaceKey
    logits: np.ndarray  # (n_prompts, vocab_size) float32


def pair_score(key: SubspaceKey, token_ids: np.ndarray, values: np.ndarray, n_tokens: int | None = None) -> float:
    """The test's score for outputs ``values`` (n_outputs, len(token_ids)) against ``key``, on the
    tokens both have (a seeded subset of ``n_tokens`` of them: the suspect's test used that many,
    and the residual of an unrelated model depends on how many dimensions are left free).

    NaN when the tokens leave no room outside the key's span (too few shared with its list)."""
    shared, columns, _ = np.intersect1d(token_ids, key.token_ids, return_indices=True)
    if n_tokens is not None and len(shared) > n_tokens:
        keep = np.sort(np.random.default_rng(0).choice(len(shared), size=n_tokens, replace=False))
        shared, columns = shared[keep], columns[keep]
    if len(shared) < key.rank + 2:
        return math.nan
    basis, _ = key.restrict(shared)
    median = float(np.median(residuals(basis, values[:, columns])[0]))
    # a residual of exactly 0 (a reference that is the suspect) stays in the null, as the
    # largest score a double residual can give
    return -math.log10(median) if median > 0 else MAX_SCORE


def usable(key: SubspaceKey, path: Path) -> Checkpoint | str:
    """The checkpoint at ``path`` when it can stand in for an unrelated model of ``key``'s
    tokenizer, else why it cannot."""
    from ...weights import open_checkpoint

    if not (path.is_dir() and (path / "config.json").is_file()):
        return "not a model directory that can be run here"
    try:
        ckpt = open_checkpoint(path)
    except LineageError as exc:
        return str(exc)
    if int(ckpt.config.vocab_size) != key.vocab_size:
        return f"vocabulary of {ckpt.config.vocab_size}, not {key.vocab_size}"
    if key.tokenizer_hash is None or ckpt.tokenizer_hash() != key.tokenizer_hash:
        return "another tokenizer (or none recorded): its outputs share less with the owner's"
    return ckpt


def language_model_null(key: SubspaceKey, tokens: np.ndarray, prompts: Sequence[str], references: Sequence[Path],
                        evidence: Evidence | None = None) -> NullCalibration:
    """Scores of unrelated same-tokenizer pairs (a), (b) and (c) of the module docstring, each on
    as many tokens as the suspect's test (``tokens``, the owner key's tokens it used).

    ``references`` that are not usable (:func:`usable`) are skipped; the calibration's ``source``
    says how many pairs and models it rests on.
    """
    scores: list[float] = []
    names: list[str] = []
    refs = []
    for path in references:  # (a)
        ckpt = usable(key, Path(path))
        if isinstance(ckpt, str):
            continue
        ref = _Reference(ckpt.path.name, owner_key(ckpt), _logits(ckpt.path, prompts))
        score = pair_score(key, tokens, ref.logits[:, tokens].astype(np.float64))
        if score >= COPY_SCORE:  # the owner itself or a copy of its lm_head: no unrelated model
            continue
        refs.append(ref)
        scores.append(score)
        names.append(f"{key.model_name} key x {ref.name}")
    all_tokens = np.arange(key.vocab_size)
    for a, b in itertools.permutations(refs, 2):  # (b)
        scores.append(pair_score(a.key, all_tokens, b.logits.astype(np.float64), len(tokens)))
        names.append(f"{a.name} key x {b.name}")
    if evidence is not None and tuple(evidence.prompts) == tuple(prompts):  # (c)
        for ref in refs:
            scores.append(pair_score(ref.key, evidence.token_ids, evidence.values, len(tokens)))
            names.append(f"{ref.name} key x suspect")
    return calibrate(scores, higher_is_related=True, models=names,
                     source=f"{SOURCE}: {len(refs)} model(s)")


def _logits(path: Path, prompts: Sequence[str]) -> np.ndarray:
    """Full next-token logits of a reference model after each prompt, cached by model and prompts."""
    from ...paths import cache_root
    from ...stats.nulls import model_identity

    digest = hashlib.sha256("\x00".join(prompts).encode()).hexdigest()[:16]
    cached = cache_root() / "subspace-null" / f"{model_identity(path)}-{digest}.npy"
    if cached.is_file():
        try:
            return np.load(cached, allow_pickle=False)
        except (OSError, ValueError):
            pass  # a torn write: compute again
    from ...outputs.local import LocalModel

    model = LocalModel(path)
    logits = np.stack([model.logits(p) for p in prompts]).astype(np.float32)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npy")
    np.save(tmp, logits, allow_pickle=False)
    tmp.replace(cached)
    return logits
