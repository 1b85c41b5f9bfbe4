"""Real checkpoints (../shared/models): ground truth from their README.

stories260k-q80 is an int8 copy of stories260k; llama2xs_ckpt.pt and hf/llama2xs are one model
in two formats; llama2xs is an independent model trained on the same data with the same vocabulary
(a hard negative); the two BabyLlamas are independent runs of one recipe.
"""

from __future__ import annotations

import numpy as np
import pytest

from llm_lineage.methods.stdprofile import StdProfileConfig, fingerprint, verify
from llm_lineage.methods.stdprofile.core import correlations, score
from llm_lineage.stats import Verdict


@pytest.fixture(scope="module")
def hf(shared_models):
    names = ("stories260k", "stories260k-q80", "llama2xs", "aidreams260k", "babyllama-tok105", "babyllama-tok361")
    return {name: shared_models / "hf" / name for name in names}


@pytest.fixture(scope="module")
def profiles(hf):
    return {name: fingerprint(path) for name, path in hf.items()}


def test_the_quantised_copy_keeps_every_profile(profiles):
    owner, copy = profiles["stories260k"], profiles["stories260k-q80"]
    main, extra = correlations(owner, copy)
    assert min(main.values()) > 0.9999 and extra["attn_norm"] == pytest.approx(1.0)
    np.testing.assert_allclose(copy.sigma, owner.sigma, rtol=1e-2)  # int8 noise moves a std by < 1 %


def test_a_format_conversion_pair_has_the_same_profiles(shared_models, profiles):
    """llama2.c's q/k row order differs from HF's; a standard deviation does not care."""
    pickle = fingerprint(shared_models / "llama2c" / "llama2xs_ckpt.pt", allow_pickle=True)
    np.testing.assert_allclose(pickle.sigma, profiles["llama2xs"].sigma, rtol=1e-6)


def test_the_hard_negative_scores_far_below_the_copy(profiles):
    assert score(profiles["stories260k"], profiles["llama2xs"]) < 0.5
    assert score(profiles["stories260k"], profiles["aidreams260k"]) < 0.5  # 4 layers against 5


@pytest.fixture(scope="module")
def stories_shaped_references():
    """Four zoo models of stories260k's shape (other seeds, the zoo recipe), built explicitly: the
    methods never train a null; a careful owner brings references of their own model's shape."""
    from llm_lineage import zoo

    return zoo.null_models("llama", num_hidden_layers=5, intermediate_size=172, head_dim=8, num_attention_heads=8,
                           num_key_value_heads=4, tie_word_embeddings=True)


def test_the_quantised_copy_is_called_derived(hf, stories_shaped_references):
    # the null: four stories260k-shaped zoo models and the four other shared families
    # ($LLM_LINEAGE_REFERENCES of the test run)
    result = verify(hf["stories260k"], hf["stories260k-q80"], references=stories_shaped_references)
    assert result.score > 0.9999 and len(result.null_scores) >= 8
    assert result.score > max(result.null_scores) and result.z_score > 3
    assert result.verdict is Verdict.DERIVED and result.p_value < 0.01, result
    hard = verify(hf["stories260k"], hf["llama2xs"], references=stories_shaped_references)
    assert hard.verdict is not Verdict.DERIVED and hard.p_value > 0.05


def test_independent_runs_of_one_recipe_correlate_but_are_not_called_derived(hf, profiles):
    """The method's known weakness: the BabyLlamas share author, recipe and data, not weights."""
    assert score(profiles["babyllama-tok105"], profiles["babyllama-tok361"]) > 0.9
    nulls = tuple(str(hf[n]) for n in ("stories260k", "llama2xs", "aidreams260k"))
    result = verify(hf["babyllama-tok105"], hf["babyllama-tok361"], StdProfileConfig(), references=nulls)
    assert result.verdict is not Verdict.DERIVED and result.p_value > 0.01
