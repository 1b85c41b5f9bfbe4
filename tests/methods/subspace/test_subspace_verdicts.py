"""Verdict rules of ``compare`` on synthetic keys and evidence (no models): every branch."""

from __future__ import annotations

import numpy as np
import pytest

from llm_lineage.methods.subspace import SubspaceConfig, SubspaceKey, compare
from llm_lineage.methods.subspace.key import orthonormal_basis
from llm_lineage.methods.subspace.lm_null import pair_score
from llm_lineage.outputs import Evidence
from llm_lineage.stats import Verdict, calibrate

HIDDEN, VOCAB = 16, 300


def _unrelated_null(key: SubspaceKey, rng, n_outputs: int = 30):
    """A language-model null from unrelated heads: random heads stand in for unrelated models here."""
    scores = [pair_score(key, np.arange(VOCAB), _evidence(rng.normal(size=(VOCAB, HIDDEN)), np.arange(VOCAB),
                                                          n_outputs, rng).values) for _ in range(4)]
    return calibrate(scores, higher_is_related=True, source="random heads")


def _key(head: np.ndarray, tokens: np.ndarray) -> SubspaceKey:
    stacked = np.c_[head[tokens], np.ones(len(tokens))]
    basis, rank = orthonormal_basis(stacked)
    singular_values = np.linalg.svd(stacked, compute_uv=False)[:rank]
    return SubspaceKey(model_name="owner", hidden_size=HIDDEN, vocab_size=VOCAB, tokenizer_hash=None,
                       token_ids=tokens, basis=basis, singular_values=singular_values, n_tokens=len(tokens), rank=rank,
                       has_bias=False, tie_word_embeddings=False, dtype="F32", token_seed=0, created="now")


def _evidence(head: np.ndarray, tokens: np.ndarray, n_outputs: int, rng, noise: float = 1e-6) -> Evidence:
    values = (head @ rng.normal(size=(head.shape[1], n_outputs))).T[:, tokens] - 5.0
    values = values + noise * rng.normal(size=values.shape)
    return Evidence("logits", tokens, values, np.full(n_outputs, noise), tuple(map(str, range(n_outputs))),
                    n_outputs, "float32", None)


@pytest.fixture
def setting():
    rng = np.random.default_rng(0)
    head = rng.normal(size=(VOCAB, HIDDEN))
    tokens = np.arange(0, VOCAB, 3)  # 100 tokens
    return rng, head, tokens, _key(head, tokens)


def test_copy_is_derived_by_compatibility(setting):
    rng, head, tokens, key = setting
    result = compare(key, _evidence(head, tokens, 30, rng))
    assert result.verdict is Verdict.DERIVED and result.decided_by == "compatibility"
    assert result.p_value < 0.01 and result.score > 5 and result.score > result.threshold


def test_low_rank_head_change_is_derived_by_alignment(setting):
    rng, head, tokens, key = setting
    changed = head + 0.2 * rng.normal(size=(VOCAB, 3)) @ rng.normal(size=(3, HIDDEN))
    result = compare(key, _evidence(changed, tokens, 30, rng))
    assert result.verdict is Verdict.DERIVED and result.decided_by == "alignment"
    assert result.extra_dims == 3 and result.estimated_hidden_size == HIDDEN


def test_unrelated_head_is_unrelated_against_the_language_model_null(setting):
    rng, _, tokens, key = setting
    evidence = _evidence(rng.normal(size=(VOCAB, HIDDEN)), tokens, 30, rng)
    result = compare(key, evidence, null=_unrelated_null(key, rng))
    assert result.verdict is Verdict.UNRELATED and result.decided_by == "language-model null"
    assert result.extra_dims == HIDDEN and result.p_value > 0.1 and result.null.n == 4


def test_without_a_language_model_null_a_changed_head_is_inconclusive(setting):
    # a quantised copy needs as many extra dimensions as an unrelated head: alignment cannot
    # tell them apart, so without unrelated models of the tokenizer nothing is concluded
    rng, _, tokens, key = setting
    result = compare(key, _evidence(rng.normal(size=(VOCAB, HIDDEN)), tokens, 30, rng))
    assert result.verdict is Verdict.INCONCLUSIVE and result.decided_by == "none"
    assert "--null" in result.note and "LLM_LINEAGE_REFERENCES" in result.note


@pytest.mark.parametrize("change", [0.003, 0.03])
def test_a_perturbed_head_is_derived_and_its_change_estimated(setting, change):
    rng, head, tokens, key = setting
    perturbed = head + change * rng.normal(size=head.shape)
    result = compare(key, _evidence(perturbed, tokens, 30, rng), null=_unrelated_null(key, rng))
    assert result.verdict is Verdict.DERIVED and result.decided_by == "language-model null"
    assert result.grade.startswith("perturbed lm_head") and result.graded_verdict.startswith("derived (perturbed")
    # isotropic hidden states and an unstructured head: the estimate is unbiased here
    assert result.perturbation.relative_change == pytest.approx(change, rel=0.3)


def test_few_outputs_are_decided_by_the_language_model_null(setting):
    rng, _, tokens, key = setting
    result = compare(key, _evidence(rng.normal(size=(VOCAB, HIDDEN)), tokens, 2, rng),
                     null=_unrelated_null(key, rng, n_outputs=2))
    assert result.verdict is Verdict.UNRELATED and result.decided_by == "language-model null"


def test_too_few_tokens_is_inconclusive(setting):
    rng, head, tokens, key = setting
    # one free dimension and coarse outputs: even a perfect fit could be chance
    coarse = _evidence(head, tokens, 1, rng, noise=0.3)
    result = compare(key, coarse, config=SubspaceConfig(n_tokens=HIDDEN + 2))
    assert result.verdict is Verdict.INCONCLUSIVE and "too few" in result.note
    precise = _evidence(head, tokens, 1, rng, noise=1e-6)
    assert compare(key, precise, config=SubspaceConfig(n_tokens=HIDDEN + 2)).verdict is Verdict.DERIVED


def test_one_collection_serves_keys_over_subsets(setting):
    rng, head, tokens, key = setting
    wide = np.arange(VOCAB)
    evidence = _evidence(head, wide, 20, rng)  # collected once over the union of tokens
    for subset in (tokens, np.arange(1, VOCAB, 2)):
        assert compare(_key(head, subset), evidence).verdict is Verdict.DERIVED
    other = _key(rng.normal(size=(VOCAB, HIDDEN)), np.arange(1, VOCAB, 2))
    assert compare(other, evidence, null=_unrelated_null(other, rng, 20)).verdict is Verdict.UNRELATED
