"""tracing: the exact permutation p-value is uniform for independent models; attacks stay derived."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from llm_lineage import zoo
from llm_lineage.attacks import derive
from llm_lineage.methods.tracing import TracingConfig, verify
from llm_lineage.stats import Verdict
from llm_lineage.stats.matching import log10_p_agreement

# attacks the test must survive on a four-block zoo victim (cheap to derive; cached by derive)
ATTACKS = {
    "finetune": dict(steps=50, seed=1),
    "lora-qkv": dict(rank=8, steps=30, seed=2),
    "quantize-8": ("quantize", dict(bits=8)),
    "quantize-4": ("quantize", dict(bits=4)),
    "prune": dict(sparsity=0.3),
    "prune-neurons": ("prune", dict(structure="neurons", sparsity=0.25)),
    "prune-layers": ("prune", dict(structure="layers", sparsity=0.25)),
    "permute": dict(seed=3),
    "rotate": dict(seed=4),
    "scale": dict(seed=5),
    "upcycle-moe": dict(),
}


@pytest.fixture(scope="module")
def victim4() -> Path:
    return zoo.build("llama", seed=0, train_steps=300, num_hidden_layers=4)


def _derive(victim: Path, name: str, tmp: Path) -> Path:
    spec = ATTACKS[name]
    kind, options = spec if isinstance(spec, tuple) else (name, spec)
    return derive(victim, kind, tmp / name, **options)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_is_derived(name: str, victim4: Path, tmp_path_factory) -> None:
    suspect = _derive(victim4, name, tmp_path_factory.mktemp("tracing-attacks"))
    result = verify(victim4, suspect)
    assert result.verdict is Verdict.DERIVED, result
    assert result.p_value < 1e-10


def test_exact_p_values_are_uniform_for_independent_models() -> None:
    """40 independent pairs (random initialisations): under H0 the exact p-value is uniform. The
    check is itself a test with a fixed seed: KS against uniform, and the rate below 0.1."""
    config = TracingConfig(n_permutations=99)
    p_exact, p_all = [], []
    for seed in range(40):
        a = zoo.build("llama", seed=1000 + 2 * seed, train_steps=0)
        b = zoo.build("llama", seed=1001 + 2 * seed, train_steps=0)
        result = verify(a, b, config)
        p_exact.append(result.p_exact)
        p_all.append(result.p_value)
    assert stats.kstest(p_exact, "uniform").pvalue > 0.001, sorted(p_exact)
    # at most 4 + 3 sd of 40 * 0.1 below 0.1; the combined test is conservative
    assert sum(p < 0.1 for p in p_exact) <= 4 + 3 * np.sqrt(40 * 0.1 * 0.9)
    assert sum(p < 0.01 for p in p_all) <= 2


def test_independent_trained_models_and_real_pairs(victim: Path, unrelated_llama: Path, shared_models: Path) -> None:
    assert verify(victim, unrelated_llama).verdict is not Verdict.DERIVED
    hf = shared_models / "hf"
    copy = verify(hf / "stories260k", hf / "stories260k-q80")
    assert copy.verdict is Verdict.DERIVED and copy.p_exact == pytest.approx(1 / 1000)
    for other in ("llama2xs", "aidreams260k"):  # the hard negative, and other data and depth
        assert verify(hf / "stories260k", hf / other).verdict is not Verdict.DERIVED
    assert verify(hf / "babyllama-tok105", hf / "babyllama-tok361").verdict is not Verdict.DERIVED


def test_agreement_bound_is_one_over_k_factorial() -> None:
    assert log10_p_agreement(0) == 0.0
    assert 10 ** log10_p_agreement(5) == pytest.approx(1 / 120)
    # the bound holds for random permutations (fixed points), checked by simulation
    rng = np.random.default_rng(0)
    fixed = np.array([np.sum(rng.permutation(50) == np.arange(50)) for _ in range(20000)])
    for k in (1, 2, 3, 4):
        assert np.mean(fixed >= k) <= 10 ** log10_p_agreement(k) + 0.01
