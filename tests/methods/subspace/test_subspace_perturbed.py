"""Copies whose lm_head was perturbed. Quantised the way copies are shipped: an exact copy at that
precision, with no reference model. Perturbed otherwise: derived against the language-model null.
Unrelated models with the owner's tokenizer are neither. The real int8 copy of ``stories260k`` is
the first case a user tries (issue 13); the same-vocabulary ``llama2xs`` is the hard negative."""

from __future__ import annotations

import pytest

from llm_lineage.methods.subspace import SubspaceConfig
from llm_lineage.methods.subspace.method import verify
from llm_lineage.stats import Verdict


def test_real_int8_copy_is_an_exact_copy_at_llama2c_q8(shared_models, local_models, monkeypatch):
    monkeypatch.delenv("LLM_LINEAGE_REFERENCES", raising=False)
    hf = shared_models / "hf"
    result = verify(hf / "stories260k", local_models(hf / "stories260k-q80"), SubspaceConfig())
    assert result.verdict is Verdict.DERIVED, result.note
    assert result.grade == "exact copy at int8 groups of 32 (llama2.c Q8)" and result.p_value < 1e-10
    assert result.null is None  # no reference model was needed
    # not the owner's exact head: the change is the size of 8-bit quantisation
    assert result.perturbation.bits_equivalent == 8 and result.compatibility.n_within == 0
    assert result.n_queries == result.n_outputs == 96


@pytest.mark.parametrize("suspect", ["llama2xs", "aidreams260k"])
def test_same_vocabulary_models_are_never_derived(shared_models, local_models, suspect):
    hf = shared_models / "hf"
    result = verify(hf / "stories260k", local_models(hf / suspect), SubspaceConfig())
    assert result.verdict is not Verdict.DERIVED
    # llama2xs is the only other model of tok512 here: left out as the suspect, no null remains
    expected = Verdict.INCONCLUSIVE if suspect == "llama2xs" else Verdict.UNRELATED
    assert result.verdict is expected, result.note
    if suspect == "llama2xs":
        assert "not a copy at any common precision" in result.note


@pytest.mark.parametrize(("bits", "group", "grade"), [(8, None, "exact copy at int8 groups of 64"),
                                                      (4, None, "exact copy at int4 groups of 32"),
                                                      (6, 16, "perturbed lm_head")])
def test_zoo_victim_with_a_quantised_lm_head_is_derived(victim, local_models, bits, group, grade):
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    suspect = derive(victim, "quantize", zoo.cache_dir().parent / "subspace-tests" / f"quantised-head-{bits}-{group}",
                     bits=bits, group_size=group, include_embeddings=True, include_head=True)
    result = verify(victim, local_models(suspect), SubspaceConfig())
    assert result.verdict is Verdict.DERIVED and result.grade.startswith(grade), result.note
    if grade == "perturbed lm_head":  # 6 bits in groups of 16 is no shipping precision: references decide
        assert result.null.n >= 12  # four zoo references of the tokenizer: (a), (b) and (c) pairs


def test_unrelated_zoo_model_of_the_same_tokenizer_is_unrelated(victim, unrelated_llama, local_models):
    result = verify(victim, local_models(unrelated_llama), SubspaceConfig())
    assert result.verdict is Verdict.UNRELATED and result.decided_by == "language-model null"
    assert result.p_value > 0.1
