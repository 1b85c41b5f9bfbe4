"""The subspace test on zoo models, in every access mode (local suspects, simulated APIs)."""

from __future__ import annotations

import pytest

from llm_lineage.methods import Kind
from llm_lineage.methods.subspace import SubspaceConfig, verify
from llm_lineage.outputs import SimulatedAPI
from llm_lineage.stats import Verdict

pytestmark = pytest.mark.slow

# (access, decimals, dtype, n_outputs): top-1 costs ~1.2 queries per token, so fewer outputs there
MODES = [
    ("logits", None, "float32", 80),
    ("probs", 4, "bfloat16", 80),
    ("topk", None, "float32", 80),
    ("topk", 4, "bfloat16", 80),
    ("top1", 4, "float32", 24),
]
MODE_IDS = [f"{a}-{dt}-{'d' + str(d) if d else 'exact'}" for a, d, dt, _ in MODES]


def _run(local_models, owner_key, path, mode):
    access, decimals, dtype, n = mode
    source = SimulatedAPI(local_models(path, dtype), access, top_k=5, decimals=decimals)
    result = verify(owner_key, source, SubspaceConfig(access=access, n_outputs=n))
    assert result.n_queries == source.n_queries > 0
    return result


@pytest.fixture(scope="module")
def unrelated_results(local_models, owner_key, unrelated_llama, unrelated_qwen2):
    return {(name, i): _run(local_models, owner_key, path, mode)
            for name, path in (("llama", unrelated_llama), ("qwen2", unrelated_qwen2))
            for i, mode in enumerate(MODES)}


@pytest.mark.parametrize("mode", range(len(MODES)), ids=MODE_IDS)
def test_copy_and_attention_lora_are_derived_by_compatibility(mode, local_models, owner_key, victim, lora_suspects,
                                                              unrelated_results):
    unrelated = min(unrelated_results[(n, mode)].compatibility.median_residual for n in ("llama", "qwen2"))
    for path in (victim, lora_suspects["qkv"]):
        result = _run(local_models, owner_key, path, MODES[mode])
        assert result.verdict is Verdict.DERIVED
        assert result.decided_by == "compatibility"
        assert result.p_value < 0.01
        # orders of magnitude below unrelated models, in every mode (bf16 included)
        assert result.compatibility.median_residual < unrelated / 30


@pytest.mark.parametrize("mode", range(len(MODES)), ids=MODE_IDS)
def test_unrelated_models_are_unrelated(mode, unrelated_results):
    for name in ("llama", "qwen2"):
        result = unrelated_results[(name, mode)]
        assert result.verdict is Verdict.UNRELATED, (name, result.note)
        assert result.compatibility.n_within == 0
        assert result.extra_dims > result.alignment.max_extra


@pytest.mark.parametrize("rank", [4, 8, 16])
@pytest.mark.parametrize("mode", [0, 2, 4], ids=[MODE_IDS[i] for i in (0, 2, 4)])
def test_lm_head_lora_needs_rank_extra_dimensions(rank, mode, local_models, owner_key, lora_suspects):
    result = _run(local_models, owner_key, lora_suspects[f"head{rank}"], MODES[mode])
    assert result.verdict is Verdict.DERIVED
    assert result.decided_by == "alignment"
    assert abs(result.extra_dims - rank) <= 1
    assert result.alignment.null_extra_dimensions > result.alignment.max_extra  # an unrelated head needs more


@pytest.mark.parametrize("mode", [1, 3], ids=[MODE_IDS[i] for i in (1, 3)])
def test_lm_head_lora_in_bf16_with_rounding_is_still_derived(mode, local_models, owner_key, lora_suspects):
    for rank in (4, 16):
        result = _run(local_models, owner_key, lora_suspects[f"head{rank}"], MODES[mode])
        assert result.verdict is Verdict.DERIVED
        assert 1 <= result.extra_dims <= rank + 1  # bf16 noise may hide the weakest directions


def test_hidden_size_is_estimated_from_outputs(local_models, owner_key, unrelated_qwen2):
    result = verify(owner_key, local_models(unrelated_qwen2), SubspaceConfig(n_outputs=120))
    assert result.estimated_hidden_size == 64
    assert not result.hidden_size_is_lower_bound


def test_model_paths_work_as_in_the_demo(victim, unrelated_llama):
    from llm_lineage.methods import METHODS

    spec = METHODS["subspace"]
    assert spec.kind is Kind.OUTPUTS
    assert spec.verify(victim, victim).verdict is Verdict.DERIVED
    assert spec.verify(victim, unrelated_llama).verdict is Verdict.UNRELATED
