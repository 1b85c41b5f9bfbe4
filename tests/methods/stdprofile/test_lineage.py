"""Zoo lineage: derived models keep the victim's profile; rescaling breaks it; same-recipe models share it.

Victim: the zoo's llama recipe (300 steps) with eight layers. Null: ``zoo.null_models`` of that shape
(other seeds, the same recipe), built explicitly and handed in.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llm_lineage import zoo
from llm_lineage.attacks import derive
from llm_lineage.attacks.registry import load_kinds
from llm_lineage.methods.stdprofile import StdProfileConfig, compare, fingerprint, null_calibration, verify
from llm_lineage.methods.stdprofile.core import correlations, score
from llm_lineage.stats import Verdict
from llm_lineage.weights import open_checkpoint

# two same-shape zoo models of other seeds (each trained once, then cached) plus the shared real
# checkpoints: the null verify gathers by default, with fewer zoo models to keep the suite quick
CONFIG = StdProfileConfig()

# realistic derivations of a pre-trained model: learning rates well below the victim's 3e-3.
# (Harsher ones move a tiny model's flat V/O profiles much more: see the README's table.)
DERIVED = {
    "finetune": ("finetune", dict(steps=100, lr=1e-4, seed=1)),
    "continue-pretrain": ("continue-pretrain", dict(steps=200, lr=3e-4, seed=2)),
    "lora-qkv": ("lora-qkv", dict(rank=8, steps=60, lr=2e-4, seed=3)),
    "upcycle-moe": ("upcycle-moe", dict(experts=4, top_k=2, steps=50, lr=1e-4, seed=4)),
}


@pytest.fixture(scope="module")
def victim_profile(deep_victim):
    return fingerprint(deep_victim)


@pytest.fixture(scope="module")
def null(deep_victim, victim_profile):
    # the deep victim's recipe (conftest.py: 300 steps, eight layers), other seeds
    references = zoo.null_models("llama", train_steps=300, num_hidden_layers=open_checkpoint(deep_victim).n_layers)
    return null_calibration(victim_profile, CONFIG, references)


def _derive(victim, derived_dir, name):
    kind, options = DERIVED[name]
    if kind not in load_kinds():
        pytest.skip(f"attack {kind!r} is not available in this installation")
    return derive(victim, kind, derived_dir / name, **options)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DERIVED))
def test_derived_models_correlate_above_every_unrelated_model(name, deep_victim, derived_dir, victim_profile, null):
    suspect = fingerprint(_derive(deep_victim, derived_dir, name))
    result = compare(victim_profile, suspect, null=null, config=CONFIG)
    assert result.score > 0.9, result
    assert min(result.correlations["q_proj"], result.correlations["k_proj"]) > 0.95, result.correlations
    assert result.score > max(null.scores)          # above every unrelated model ...
    assert result.verdict is not Verdict.UNRELATED  # ... so never called unrelated
    if result.best_possible_p < 0.01:               # and derived whenever the null allows a verdict
        assert result.verdict is Verdict.DERIVED, result
    assert suspect.is_moe == (name == "upcycle-moe")


@pytest.mark.slow
def test_verify_against_a_same_recipe_model_is_not_derived(deep_victim):
    other = zoo.build("llama", seed=1, train_steps=300, num_hidden_layers=8)  # same recipe, new seed
    result = verify(deep_victim, other, CONFIG)
    assert result.verdict is not Verdict.DERIVED
    assert result.score < 0.9 and len(result.null_scores) >= 4
    assert result.owner_layers == result.suspect_layers == 8


def test_function_preserving_rescaling_changes_the_score(deep_victim, derived_dir, victim_profile):
    """W_Q c, W_K / c per head leaves every logit as it was, but not the std profile of Q and K."""
    scaled_dir = derive(deep_victim, "scale", derived_dir / "scale-qk", qk=True, vo=False, ffn=False, factor=4.0)
    scaled = fingerprint(scaled_dir)
    main, _ = correlations(victim_profile, scaled)
    assert main["v_proj"] == pytest.approx(1.0) and main["o_proj"] == pytest.approx(1.0)  # untouched
    assert min(main["q_proj"], main["k_proj"]) < 0.8
    assert score(victim_profile, scaled) < 0.9
    ids = torch.tensor([[1, 17, 99, 250, 3, 42, 7, 300]])
    with torch.no_grad():
        before, after = zoo.load(deep_victim)(ids).logits, zoo.load(scaled_dir)(ids).logits
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)  # the same function


def test_permuting_heads_and_neurons_leaves_the_profile_exactly(deep_victim, derived_dir, victim_profile):
    permuted = fingerprint(derive(deep_victim, "permute", derived_dir / "permute", seed=5))
    np.testing.assert_allclose(permuted.sigma, victim_profile.sigma, rtol=1e-12)


def test_two_layer_models_are_always_inconclusive(victim, unrelated_llama, unrelated_qwen2):
    """Over two layers every correlation is +-1: the zoo's standard victim cannot be judged this way."""
    result = verify(victim, victim, StdProfileConfig(), references=(unrelated_llama, unrelated_qwen2))
    assert result.verdict is Verdict.INCONCLUSIVE and "2 layers" in result.note
    assert np.isnan(result.score)
