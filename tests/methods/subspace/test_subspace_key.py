"""The owner key: what it holds, saving and loading, token subsets, tied heads and mismatches."""

from __future__ import annotations

import numpy as np
import pytest

from llm_lineage.errors import InputError, KeyFileError, VocabularyMismatch
from llm_lineage.methods import fingerprint_io
from llm_lineage.methods.subspace import SubspaceKey, load_owner, owner_key, verify
from llm_lineage.methods.subspace.key import default_n_tokens, orthonormal_basis
from llm_lineage.weights import open_checkpoint


def test_key_spans_lm_head_and_ones_on_its_tokens(victim, owner_key):
    head = open_checkpoint(victim).tensor("lm_head", dtype=np.float64)
    key = owner_key
    assert key.n_tokens == len(key.token_ids) == default_n_tokens(64, 512) == 192
    assert key.rank == 65 and key.hidden_size == 64 and key.vocab_size == 512
    assert np.all(np.diff(key.token_ids) > 0)
    np.testing.assert_allclose(key.basis.T @ key.basis, np.eye(key.rank), atol=1e-10)
    columns = np.c_[head[key.token_ids], np.ones(key.n_tokens)]
    np.testing.assert_allclose(key.basis @ (key.basis.T @ columns), columns, atol=1e-9)
    assert key.tokenizer_hash == open_checkpoint(victim).tokenizer_hash()
    assert key.dtype != "unknown"


def test_key_file_round_trip_and_manifest(tmp_path, owner_key):
    path = fingerprint_io.save(tmp_path / "key", {"subspace": owner_key}, manifest={"model": "victim"})
    loaded = load_owner(path)
    assert load_owner(path.with_suffix(".json")).created == loaded.created == owner_key.created
    np.testing.assert_array_equal(loaded.basis, owner_key.basis)
    np.testing.assert_array_equal(loaded.token_ids, owner_key.token_ids)
    manifest = path.with_suffix(".json").read_text()
    for word in ("hidden_size", "vocab_size", "tokenizer_hash", "n_tokens", "created", "dtype"):
        assert word in manifest
    path.with_suffix(".json").unlink()  # the .safetensors alone still reads as a key
    np.testing.assert_array_equal(load_owner(path).basis, owner_key.basis)


def test_subset_basis_equals_the_basis_built_on_the_subset(victim, owner_key):
    head = open_checkpoint(victim).tensor("lm_head", dtype=np.float64)
    subset = owner_key.token_ids[::2]
    basis, rank = owner_key.restrict(subset)
    direct, direct_rank = orthonormal_basis(np.c_[head[subset], np.ones(len(subset))])
    assert rank == direct_rank == 65
    np.testing.assert_allclose(basis @ basis.T, direct @ direct.T, atol=1e-9)


def test_tied_embeddings_give_the_embedding_span(tmp_path):
    from llm_lineage import zoo

    path = zoo.build("gpt2", seed=0)
    ckpt = open_checkpoint(path)
    key = owner_key(ckpt, n_tokens=100)
    assert key.tie_word_embeddings and key.rank == 65
    embed = ckpt.tensor("embed_tokens", dtype=np.float64)[key.token_ids]
    np.testing.assert_allclose(key.basis @ (key.basis.T @ embed), embed, atol=1e-9)


def test_bad_inputs_raise_lineage_errors(tmp_path, victim, owner_key):
    from llm_lineage.methods.subspace import owner_key as build

    with pytest.raises(InputError, match="n_tokens"):
        build(open_checkpoint(victim), n_tokens=60)  # not above hidden_size + 1
    other = fingerprint_io.save(tmp_path / "other", {"not-subspace": owner_key}, manifest={})
    with pytest.raises(KeyFileError, match="no subspace key"):
        load_owner(other)
    # a key of another vocabulary with no token strings to map by (keys before 0.4) cannot be tested
    small = SubspaceKey(**{**owner_key.__dict__, "vocab_size": 100, "token_strings": ()})
    with pytest.raises(VocabularyMismatch):
        verify(small, victim)

