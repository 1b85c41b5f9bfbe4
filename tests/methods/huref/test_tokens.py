"""The token set X: least frequent non-special tokens, user lists, shared strings across vocabularies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llm_lineage.errors import InputError, VocabularyMismatch
from llm_lineage.methods.huref import tokens
from llm_lineage.weights import open_checkpoint


def test_least_frequent_drops_specials_and_prefers_rare_tokens(victim: Path) -> None:
    ckpt = open_checkpoint(victim)
    strings, special = tokens.vocabulary(ckpt)
    assert {0, 1, 2} <= special  # <pad>, <s>, </s>
    ids = tokens.least_frequent_ids(ckpt, 50)
    assert len(ids) == 50 and not set(ids.tolist()) & special
    assert list(ids) == sorted(ids)
    path = victim / "tokenizer.json"
    counts = tokens._corpus_counts(str(path), ckpt.config.vocab_size)
    rest = np.setdiff1d(np.arange(ckpt.config.vocab_size), np.concatenate([ids, sorted(special)]))
    assert counts[ids].max() <= counts[rest].min()
    everything = tokens.least_frequent_ids(ckpt, 4096)  # more than the vocabulary: all non-special ids
    assert len(everything) == ckpt.config.vocab_size - len(special)


def test_user_token_lists(tmp_path: Path, victim: Path) -> None:
    ckpt = open_checkpoint(victim)
    strings, _ = tokens.vocabulary(ckpt)
    (tmp_path / "list.json").write_text(json.dumps([strings[10], strings[20], "no-such-piece"]))
    (tmp_path / "list.txt").write_text(f"{strings[30]}\n{strings[40]}\n")
    assert tokens.ids_for_strings(ckpt, tokens.load_token_list(tmp_path / "list.json")).tolist() == [10, 20]
    assert tokens.ids_for_strings(ckpt, tokens.load_token_list(tmp_path / "list.txt")).tolist() == [30, 40]
    with pytest.raises(InputError, match="does not exist"):
        tokens.load_token_list(tmp_path / "missing.txt")
    (tmp_path / "bad.json").write_text("[1, 2")
    with pytest.raises(InputError, match="JSON"):
        tokens.load_token_list(tmp_path / "bad.json")
    with pytest.raises(VocabularyMismatch):
        tokens.ids_for_strings(ckpt, ["no-such-piece"])


def test_shared_strings_align_two_vocabularies(shared_models: Path) -> None:
    owner = open_checkpoint(shared_models / "hf" / "stories260k")
    suspect = open_checkpoint(shared_models / "hf" / "aidreams260k")
    ids_owner, ids_suspect = tokens.shared_token_ids(owner, suspect, 4096)
    owner_strings, _ = tokens.vocabulary(owner)
    suspect_strings, _ = tokens.vocabulary(suspect)
    assert len(ids_owner) == len(ids_suspect) > 100  # byte pieces and a few merges are shared
    assert all(owner_strings[i] == suspect_strings[j] for i, j in zip(ids_owner, ids_suspect, strict=True))


def test_gguf_vocabulary_without_tokenizer_json(shared_models: Path) -> None:
    gguf = shared_models / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    ckpt = open_checkpoint(gguf)
    strings, special = tokens.vocabulary(ckpt)
    assert strings[0] == "<|endoftext|>" and 0 in special
    ids = tokens.least_frequent_ids(ckpt, 4096)
    assert len(ids) == 4096 and not set(ids.tolist()) & special
