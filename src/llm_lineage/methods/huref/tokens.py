"""The token set X: which embedding rows the invariant terms are evaluated on.

HuRef uses the 4096 least frequent tokens of the vocabulary, counted over an English corpus,
special tokens dropped. Here the count runs over the package's local corpus
(:mod:`llm_lineage.corpus`) with the checkpoint's own ``tokenizer.json``; nothing is downloaded.
A checkpoint without a countable tokenizer (a GGUF file) ranks its ids by BPE merge order
instead: later merges are rarer pieces. Users can pass their own list of token strings.

When owner and suspect have different tokenizers, X is drawn from the token strings both
vocabularies share (:func:`shared_token_ids`); when they have the same one, ids are used as they
are. This module owns only the selection; the terms live in :mod:`.core`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import InputError, VocabularyMismatch
from ...weights import Checkpoint

# specials that tokenizers do not always flag: <|endoftext|>, <s>, </s>, <pad>, <unk>, [CLS] ...
_SPECIAL_RE = re.compile(r"^(<\|.*\|>|</?s>|<pad>|<unk>|<mask>|\[(CLS|SEP|PAD|MASK|UNK)\])$")
_GGUF_CONTROL = 3  # llama.cpp token_type CONTROL


def _tokenizer_file(ckpt: Checkpoint) -> Path | None:
    root = ckpt.path if ckpt.path.is_dir() else ckpt.path.parent
    path = root / "tokenizer.json"
    return path if path.is_file() else None


@lru_cache(maxsize=32)
def _vocab_from_file(path: str, mtime: int) -> tuple[tuple[str, ...], frozenset[int]]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    size = tok.get_vocab_size(with_added_tokens=True)
    strings = tuple(tok.id_to_token(i) or f"<id {i}>" for i in range(size))
    added = json.loads(Path(path).read_text(encoding="utf-8")).get("added_tokens") or []
    special = frozenset(int(t["id"]) for t in added if t.get("special"))
    return strings, special


def vocabulary(ckpt: Checkpoint) -> tuple[tuple[str, ...] | None, frozenset[int]]:
    """Token strings by id (``None`` when the checkpoint carries no tokenizer) and special ids."""
    path = _tokenizer_file(ckpt)
    if path is not None:
        strings, special = _vocab_from_file(str(path), path.stat().st_mtime_ns)
    else:
        tokens = getattr(ckpt.store, "tokens", None)
        if not tokens:
            return None, frozenset()
        strings = tuple(str(t) for t in tokens)
        types = getattr(ckpt.store, "token_types", None) or ()
        special = frozenset(i for i, t in enumerate(types) if int(t) == _GGUF_CONTROL)
    special = special | {i for i, s in enumerate(strings) if _SPECIAL_RE.match(s)}
    return strings, frozenset(special)


def _corpus_counts(path: str, vocab_size: int) -> np.ndarray:
    """Token counts of the local corpus under the tokenizer at ``path``, cached by the tokenizer's
    content: registering many models of one tokenizer tokenises the corpus once, not per model
    (measured: 90% of a zoo model's registration before)."""
    import hashlib

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:20]
    return _counts_of(path, digest, vocab_size)


@lru_cache(maxsize=32)
def _counts_of(path: str, digest: str, vocab_size: int) -> np.ndarray:
    from tokenizers import Tokenizer

    from ... import corpus
    from ...paths import cache_root

    cached = cache_root() / "huref-token-counts" / f"{digest}-{vocab_size}.npy"
    if cached.is_file():
        try:
            counts = np.load(cached, allow_pickle=False)
            if counts.shape == (vocab_size,):
                return np.asarray(counts)
        except (OSError, ValueError):
            pass  # a torn write: count again
    tok = Tokenizer.from_file(path)
    texts = list(corpus.generate("stories")) + list(corpus.generate("manuals"))
    counts = np.zeros(vocab_size, dtype=np.int64)
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        ids = np.asarray(enc.ids, dtype=np.int64)
        np.add.at(counts, ids[ids < vocab_size], 1)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, counts, allow_pickle=False)
    tmp.replace(cached)
    return counts


def least_frequent_ids(ckpt: Checkpoint, n: int = 4096) -> np.ndarray:
    """The ``n`` least frequent non-special token ids of ``ckpt``, sorted ascending.

    Counts come from the local corpus and the checkpoint's ``tokenizer.json``; ties (and
    checkpoints without one) are broken towards later ids, the later (rarer) BPE merges.
    """
    vocab_size = ckpt.config.vocab_size
    strings, special = vocabulary(ckpt)
    path = _tokenizer_file(ckpt)
    counts = (_corpus_counts(str(path), vocab_size) if path is not None
              else np.zeros(vocab_size, dtype=np.int64))
    ids = np.array([i for i in range(vocab_size) if i not in special], dtype=np.int64)
    order = np.lexsort((-ids, counts[ids]))  # primary: count ascending; then id descending
    return np.sort(ids[order[:n]])


def ids_for_strings(ckpt: Checkpoint, wanted: Iterable[str]) -> np.ndarray:
    """Ids of the given token strings in ``ckpt``'s vocabulary; raises if none is there."""
    strings, _ = vocabulary(ckpt)
    wanted = list(wanted)
    if strings is None:
        raise VocabularyMismatch(f"{ckpt.path} carries no tokenizer, so token strings cannot be looked up",
                                 hint="put tokenizer.json beside the weights")
    index = {s: i for i, s in enumerate(strings) if i < ckpt.config.vocab_size}
    ids = np.array(sorted({index[s] for s in wanted if s in index}), dtype=np.int64)
    if len(ids) == 0:
        raise VocabularyMismatch(f"none of the {len(wanted)} given tokens is in the vocabulary of {ckpt.path}")
    return ids


def shared_token_ids(owner: Checkpoint, suspect: Checkpoint, n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Aligned ``(owner_ids, suspect_ids)`` for tokens whose strings both vocabularies share.

    Among the shared, non-special strings the ``n`` least frequent for the owner are kept.
    """
    owner_strings, owner_special = vocabulary(owner)
    suspect_strings, suspect_special = vocabulary(suspect)
    if owner_strings is None or suspect_strings is None:
        raise VocabularyMismatch(
            f"{owner.path} and {suspect.path} have different vocabularies and one has no tokenizer to match strings",
            hint="pass a token list both models share with --tokens")
    suspect_index = {s: i for i, s in enumerate(suspect_strings)
                     if i < suspect.config.vocab_size and i not in suspect_special}
    ranked = least_frequent_ids(owner, n=owner.config.vocab_size)  # every non-special id, ascending
    del owner_special
    pairs = [(int(i), suspect_index[owner_strings[i]]) for i in ranked
             if i < len(owner_strings) and owner_strings[i] in suspect_index]
    if len(pairs) < 2:
        raise VocabularyMismatch(f"{owner.path} and {suspect.path} share fewer than 2 token strings")
    counts_order = _rarity_order(owner, np.array([p[0] for p in pairs]))
    keep = sorted(counts_order[:n].tolist())
    return (np.array([pairs[k][0] for k in keep], dtype=np.int64),
            np.array([pairs[k][1] for k in keep], dtype=np.int64))


def _rarity_order(ckpt: Checkpoint, ids: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` from rarest to most frequent."""
    path = _tokenizer_file(ckpt)
    counts = (_corpus_counts(str(path), ckpt.config.vocab_size)[ids]
              if path is not None else np.zeros(len(ids), dtype=np.int64))
    return np.lexsort((-ids, counts))


def load_token_list(path: str | Path) -> tuple[str, ...]:
    """A user's token set: a JSON list of strings, or one token string per line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"token list {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not a valid JSON list of token strings ({exc})") from None
        if not all(isinstance(t, str) for t in items):
            raise InputError(f"{path} must hold a JSON list of strings")
        return tuple(items)
    return tuple(line for line in text.splitlines() if line)


def strings_of(ckpt: Checkpoint, ids: Sequence[int]) -> tuple[str, ...]:
    strings, _ = vocabulary(ckpt)
    if strings is None:
        return tuple(f"<id {i}>" for i in ids)
    return tuple(strings[i] if i < len(strings) else f"<id {i}>" for i in ids)
