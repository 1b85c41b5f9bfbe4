"""What ``tracing`` keeps of a model, so that a registry can run the exact tests without its weights.

Per layer, the gate and up rows of ``stored_units`` FFN units (a seeded choice of unit indices,
the same for every model of one FFN width, norm gain folded, unit length, float16), and the
embedding rows of a fixed, versioned set of token strings for the residual alignment: every
string whose salted hash falls below ``align_tokens / vocab_size`` (content-defined, so two
tokenizers keep the same strings where they share them, and a shuffled vocabulary keeps them
too). At 7B shape (32 layers, hidden 4096, vocab 32,000) that is 80 x 2 x 32 x 4096 x 2 bytes
plus 2,048 x 4096 x 2: 59 MB, against 13 GB of weights.

Validity is the live test's (:mod:`.core`): the permutation test permutes the suspect's *stored*
units, which are exchangeable under the null as every unit is; the matching test matches the
owner's stored units against the suspect's stored units (or against all of them when the suspect
is a checkpoint). Power: a copy that keeps unit order pairs all 80 stored units alike in every
layer (p below 1e-100 for 30 layers); a copy whose units were *permuted* keeps few of the stored
indices in the suspect's stored set, so between two stored fingerprints it is seen only by the
matching test on the few shared units, and against a live checkpoint in full.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ...errors import VocabularyMismatch
from ...weights import Checkpoint
from .config import TracingConfig

ALIGN_SET = "llm-lineage-align/1"


def align_selection(strings: tuple[str, ...] | list[str], vocab_size: int, n: int) -> np.ndarray:
    """Ids whose token string hashes (salted with :data:`ALIGN_SET`) below ``n / vocab_size``, at most ``2 n``.

    >>> ids = align_selection([f"t{i}" for i in range(10_000)], 10_000, 500)
    >>> 350 < len(ids) < 650
    True
    """
    threshold = min(1.0, n / max(vocab_size, 1))
    chosen = [i for i, s in enumerate(strings[:vocab_size]) if _unit_hash(s) < threshold]
    return np.asarray(chosen[: 2 * n], dtype=np.int64)


def _unit_hash(text: str) -> float:
    digest = hashlib.sha256(f"{ALIGN_SET}\0{text}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little") / 2.0 ** 64


def stored_arrays(ckpt: Checkpoint, config: TracingConfig) -> dict[str, Any]:
    """The fields :class:`.core.TracingFingerprint` stores beside its pointer to the weights."""
    from ..huref.tokens import vocabulary
    from .core import checkpoint_units

    units = checkpoint_units(ckpt)
    rng = np.random.default_rng(config.seed)
    held = np.sort(rng.choice(units.n_units, size=min(config.stored_units, units.n_units), replace=False))
    gate = np.empty((units.n_layers, len(held), ckpt.config.hidden_size), dtype=np.float16)
    up = np.empty_like(gate)
    for layer in range(units.n_layers):
        g, u = units.read(layer)
        gate[layer], up[layer] = g[held], u[held]
    strings, _ = vocabulary(ckpt)
    vocab = int(ckpt.config.vocab_size)
    ids = align_selection(strings, vocab, config.align_tokens) if strings else np.arange(min(vocab, config.align_tokens))
    return {"n_units": units.n_units, "unit_ids": held.astype(np.int64), "gate": gate, "up": up,
            "align_rows": ckpt.rows("embed_tokens", ids, dtype=np.float32).astype(np.float16),
            "align_strings": tuple(strings[int(i)] for i in ids) if strings else tuple(str(int(i)) for i in ids)}


def rows_for(side: Any, strings: list[str]) -> np.ndarray:
    """Embedding rows of ``strings`` from a stored fingerprint or a checkpoint (float32)."""
    if isinstance(side, Checkpoint):
        from ..huref.tokens import vocabulary

        vocab, _ = vocabulary(side)
        index = {s: i for i, s in enumerate(vocab or ()) if i < side.config.vocab_size}
        return side.rows("embed_tokens", np.array([index[s] for s in strings], dtype=np.int64), dtype=np.float32)
    index = {s: i for i, s in enumerate(side.align_strings)}
    return side.align_rows[[index[s] for s in strings]].astype(np.float32)


def strings_of(side: Any) -> set[str]:
    if isinstance(side, Checkpoint):
        from ..huref.tokens import vocabulary

        vocab, _ = vocabulary(side)
        return set((vocab or ())[: side.config.vocab_size])
    return set(side.align_strings)


def stored_alignment(owner: Any, suspect: Any) -> tuple[np.ndarray, int, float]:
    """``(R, tokens, relative residual)`` as :func:`..alignment.residual_alignment`, on the stored
    strings: the owner's when it is stored, else the suspect's, those the other side has too."""
    from ..alignment import procrustes

    base = owner if not isinstance(owner, Checkpoint) else suspect
    other = strings_of(suspect if base is owner else owner)
    shared = [s for s in base.align_strings if s in other]
    if len(shared) < 8:
        raise VocabularyMismatch(f"the two models share {len(shared)} of the stored alignment strings: too few "
                                 "to align their residual streams")
    rotation, residual = procrustes(rows_for(owner, shared), rows_for(suspect, shared))
    return rotation, len(shared), residual
