"""Copies whose lm_head was perturbed (quantised): derived against the language-model null; unrelated
models with the owner's tokenizer are not. The real int8 copy of ``stories260k`` is the first case a
user tries (issue 13); the same-vocabulary ``llama2xs`` is the hard negative."""

from __future__ import annotations

import pytest

from llm_lineage.methods.subspace import SubspaceConfig
from llm_lineage.methods.subspace.method import verify
from llm_lineage.stats import Verdict


def test_real_int8_copy_is_derived_with_a_perturbed_lm_head(shared_models, local_models):
    hf = shared_models / "hf"
    result = verify(hf / "stories260k", local_models(hf / "stories260k-q80"), SubspaceConfig())
    assert result.verdict is Verdict.DERIVED and result.decided_by == "language-model null", result.note
    assert result.p_value < 0.01 and result.grade.startswith("perturbed lm_head")
    # the change is the size of 8-bit quantisation (the copy is Q8_0); not an exact head
    assert result.perturbation.bits_equivalent == 8 and result.compatibility.n_within == 0
    assert any("llama2xs" in m for m in result.null.models)
    assert result.n_queries == result.n_outputs == 96


@pytest.mark.parametrize("suspect", ["llama2xs", "aidreams260k"])
def test_same_vocabulary_models_are_never_derived(shared_models, local_models, suspect):
    hf = shared_models / "hf"
    result = verify(hf / "stories260k", local_models(hf / suspect), SubspaceConfig())
    assert result.verdict is not Verdict.DERIVED
    # llama2xs is the only other model of tok512 here: left out as the suspect, no null remains
    expected = Verdict.INCONCLUSIVE if suspect == "llama2xs" else Verdict.UNRELATED
    assert result.verdict is expected, result.note


@pytest.mark.parametrize("bits", [8, 4])
def test_zoo_victim_with_a_quantised_lm_head_is_derived(victim, local_models, bits):
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    suspect = derive(victim, "quantize", zoo.cache_dir().parent / "subspace-tests" / f"quantised-head-{bits}",
                     bits=bits, include_embeddings=True, include_head=True)
    result = verify(victim, local_models(suspect), SubspaceConfig())
    assert result.verdict is Verdict.DERIVED and result.grade.startswith("perturbed lm_head"), result.note
    assert result.null.n >= 12  # four zoo references of the tokenizer: (a), (b) and (c) pairs


def test_unrelated_zoo_model_of_the_same_tokenizer_is_unrelated(victim, unrelated_llama, local_models):
    result = verify(victim, local_models(unrelated_llama), SubspaceConfig())
    assert result.verdict is Verdict.UNRELATED and result.decided_by == "language-model null"
    assert result.p_value > 0.1
