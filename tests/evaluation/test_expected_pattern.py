"""The issue's expected pattern at zoo scale, through the harness, with the methods as registered.

- the subspace test calls derived every attack that leaves the span of lm_head intact (attention
  LoRA, quantised blocks, every function-preserving reparameterisation) and misses lm_head LoRA,
  where alignment (extra dimensions about the rank) takes over;
- ``invariant`` survives every reparameterisation; ``huref`` falls to fold + rotate;
- std-profile falls to Q/K scaling (on an 8-layer victim: over the zoo's 2 layers a profile
  correlation is always +-1, and the method rightly answers inconclusive);
- ``tracing`` and ``awm`` call every attack here derived;
- nothing is called derived for the unrelated controls.
"""

from __future__ import annotations

import pytest

from llm_lineage.evaluation import evaluate
from llm_lineage.methods import METHODS

pytestmark = pytest.mark.slow

ATTACKS = "lora-qkv:rank=8:steps=30,lora-head:rank=8:steps=30,quantize:bits=8,rotate,permute,scale"
KEEP_HEAD_SPAN = ("lora-qkv:rank=8:steps=30", "quantize:bits=8", "rotate", "permute", "scale")
REPARAM = ("rotate", "permute", "scale")


@pytest.fixture(scope="module")
def evaluation(victim, unrelated_llama, unrelated_qwen2, tmp_path_factory):
    return evaluate(victim, ATTACKS, tmp_path_factory.mktemp("pattern"), unrelated=[unrelated_llama, unrelated_qwen2],
                    progress=False)


def _verdict(evaluation, method, suspect):
    return evaluation.pair(method, suspect).verdict


def test_every_method_is_evaluated(evaluation):
    assert {s.method.split("[")[0] for s in evaluation.summaries} == set(METHODS)


def test_subspace_catches_head_preserving_attacks_and_alignment_takes_over_for_head_lora(evaluation):
    modes = [s.method for s in evaluation.summaries if s.method.startswith("subspace")]
    assert modes
    controls = [s.name for s in evaluation.suspects if s.truth == "unrelated"]
    head_lora = "lora-head:rank=8:steps=30"
    for mode in modes:
        for attack in KEEP_HEAD_SPAN:
            assert _verdict(evaluation, mode, attack) == "derived", (mode, attack)
        # compatibility misses lm_head LoRA: its score sits with the unrelated models, not the copies ...
        kept = min(evaluation.pair(mode, a).related_score for a in KEEP_HEAD_SPAN)
        unrelated = max(evaluation.pair(mode, c).related_score for c in controls)
        assert evaluation.pair(mode, head_lora).related_score < (kept + unrelated) / 2, mode
        # ... and alignment takes over: about rank-many extra dimensions, so still derived
        extra = evaluation.pair(mode, head_lora).details["alignment"]["extra_dimensions"]
        assert abs(extra - 8) <= 1, (mode, extra)
        assert _verdict(evaluation, mode, head_lora) == "derived"


def test_invariant_survives_reparameterisation_and_huref_loses_ground_to_rotation(evaluation):
    for attack in REPARAM:
        assert _verdict(evaluation, "invariant", attack) == "derived", attack
    # folding the norm gains into W_Q, W_K, ... changes HuRef's raw terms but not the invariant ones
    assert evaluation.pair("huref", "rotate").score < evaluation.pair("invariant", "rotate").score - 10


@pytest.mark.xfail(strict=True, reason="measured at zoo scale: huref ICS 67 after fold+rotate (copies 100, "
                   "unrelated 6-9, threshold 20), so it still says derived; the zoo's 300-step RMSNorm gains "
                   "stay too close to 1 for folding to hide the model")
def test_huref_falls_to_fold_and_rotate(evaluation):
    assert _verdict(evaluation, "huref", "rotate") != "derived"


def test_tracing_calls_every_attack_derived_and_awm_never_unrelated(evaluation):
    """tracing matches FFN units through every reparameterisation. awm's exact tests run over heads:
    the zoo victim's 2 layers of 4 heads cannot reach p < 0.01 (a copy gets p = 0.02), so it says
    inconclusive here and derived on deeper models (tests/methods/awm)."""
    attacks = [s.name for s in evaluation.suspects if s.truth == "derived"]
    for attack in attacks:
        assert _verdict(evaluation, "tracing", attack) == "derived", attack
        assert _verdict(evaluation, "awm", attack) != "unrelated", attack


def test_text_calls_the_function_preserving_attacks_derived(evaluation):
    """Quantisation and reparameterisations leave what the model writes (almost) unchanged."""
    for attack in ("quantize:bits=8", *REPARAM):
        assert _verdict(evaluation, "text", attack) == "derived", attack


def test_nothing_is_called_derived_for_unrelated_controls(evaluation):
    controls = [s.name for s in evaluation.suspects if s.truth == "unrelated"]
    assert len(controls) == 2
    for summary in evaluation.summaries:
        for name in controls:
            assert _verdict(evaluation, summary.method, name) != "derived", (summary.method, name)


def test_std_profile_falls_to_qk_scaling(unrelated_qwen2, tmp_path):
    from llm_lineage import zoo

    deep = zoo.build("llama", seed=0, train_steps=300, num_hidden_layers=8)  # shared with the std-profile tests
    ev = evaluate(deep, "quantize:bits=8,scale", tmp_path, unrelated=[unrelated_qwen2], methods=["std-profile"],
                  progress=False)
    # int8 keeps the profile (correlation near 1); Q/K scaling moves it far down, so no derived verdict
    assert ev.pair("std-profile", "quantize:bits=8").score > 0.95
    assert ev.pair("std-profile", "scale").score < ev.pair("std-profile", "quantize:bits=8").score - 0.2
    assert _verdict(ev, "std-profile", "scale") != "derived"
    assert _verdict(ev, "std-profile", unrelated_qwen2.name) != "derived"
