"""Copies as people ship them, with only the owner's model (no reference models): a dtype re-save or
a GGUF quantisation is an exact copy at that precision; a model of another width is unrelated, for
that reason; an unrelated model of the owner's shape is never derived."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from llm_lineage import zoo
from llm_lineage.methods.subspace import SubspaceConfig
from llm_lineage.methods.subspace.method import verify
from llm_lineage.methods.subspace.precisions import precisions
from llm_lineage.outputs import SimulatedAPI
from llm_lineage.stats import Verdict


@pytest.fixture(autouse=True)
def _no_references(monkeypatch):
    monkeypatch.delenv("LLM_LINEAGE_REFERENCES", raising=False)


def _shipped(victim, tmp_path, precision: str):
    """The victim with every matrix as a copy at ``precision`` holds it (widened back to float32)."""
    apply = {p.name: p.apply for p in precisions()[0]}[precision]
    out = tmp_path / precision.replace(" ", "-")
    shutil.copytree(victim, out)
    tensors = load_file(out / "model.safetensors")
    save_file({k: apply(v) if v.ndim == 2 else v for k, v in tensors.items()}, out / "model.safetensors")
    return out


@pytest.mark.parametrize("access", ["logits", "topk"])
@pytest.mark.parametrize("precision", ["bfloat16", "float16", "GGUF Q8_0", "GGUF Q4_0"])
def test_copies_at_shipping_precisions_are_exact_copies_without_references(victim, tmp_path, local_models,
                                                                            precision, access):
    suspect = local_models(_shipped(victim, tmp_path, precision))
    source = suspect if access == "logits" else SimulatedAPI(suspect, "topk", top_k=5)
    result = verify(victim, source, SubspaceConfig(access=access))
    assert result.verdict is Verdict.DERIVED and result.grade == f"exact copy at {precision}", result.note
    assert result.p_value < 1e-6 and result.null is None


def test_a_model_of_another_width_is_unrelated_for_that_reason(victim, local_models):
    wider = zoo.build("llama", seed=3, hidden_size=96, num_attention_heads=4, num_key_value_heads=2)
    result = verify(victim, local_models(wider), SubspaceConfig())
    assert result.verdict is Verdict.UNRELATED and result.decided_by == "output rank", result.note
    assert "dimensions, the owner's lm_head 64" in result.note


def test_an_unrelated_model_of_the_same_shape_is_not_derived(victim, unrelated_llama, local_models):
    result = verify(victim, local_models(unrelated_llama), SubspaceConfig())
    assert result.verdict is not Verdict.DERIVED
    assert "not a copy at any common precision" in result.note or result.decided_by == "language-model null"


def test_the_key_asks_as_many_prompts_as_any_width_needs():
    from llm_lineage.corpus import query_prompts

    prompts = query_prompts(4096 + 32)
    assert len(set(prompts)) == len(prompts) == 4128
    assert json.dumps(prompts[:3]) == json.dumps(query_prompts(3))


def test_int8_groups_of_32_reproduce_the_real_llama2c_copy(shared_models):
    from llm_lineage.weights import open_checkpoint

    apply = {p.name: p.apply for p in precisions()[0]}["int8 groups of 32 (llama2.c Q8)"]
    owner = open_checkpoint(shared_models / "hf" / "stories260k").tensor("embed_tokens")
    copy = open_checkpoint(shared_models / "hf" / "stories260k-q80").tensor("embed_tokens")
    np.testing.assert_array_equal(apply(owner), copy)  # bit for bit


@pytest.mark.parametrize("kind", ["shuffle-vocab", "extend-vocab"])
def test_vocabulary_attacks_are_mapped_by_token_string_and_derived(victim, local_models, kind):
    from llm_lineage.attacks import derive

    suspect = derive(victim, kind, zoo.cache_dir().parent / "subspace-tests" / kind, seed=2)
    result = verify(victim, local_models(suspect), SubspaceConfig())
    assert result.verdict is Verdict.DERIVED and result.grade == "exact lm_head", result.note
    # shuffled ids are mapped by the pieces' strings; appended tokens leave the owner's ids in place
    assert ("mapped by string" in result.note) == (kind == "shuffle-vocab")


@pytest.mark.parametrize("ftype", ["Q8_0", "Q4_K_M"])
@pytest.mark.parametrize("access", ["logits", "topk"])
def test_a_gguf_written_by_llamacpps_own_quantiser_is_an_exact_copy(victim, tmp_path, local_models, ftype, access):
    """The victim exported to GGUF and quantised by llama.cpp itself (through llama-cpp-python); its
    lm_head is Q8_0 in both files (a 64-wide model has no K-quant rows: Q4_K_M falls back)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    import ctypes

    from llm_lineage.serve.gguf_export import export_gguf
    from llm_lineage.weights.gguf_convert import gguf_to_hf

    f32, quantised = export_gguf(victim, tmp_path / "f32.gguf"), tmp_path / f"{ftype}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    assert llama_cpp.llama_model_quantize(str(f32).encode(), str(quantised).encode(), ctypes.byref(params)) == 0
    copy = gguf_to_hf(quantised, tmp_path / "copy", tokenizer=False)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(victim / name, copy / name)
    suspect = local_models(copy)
    source = suspect if access == "logits" else SimulatedAPI(suspect, "topk", top_k=5)
    result = verify(victim, source, SubspaceConfig(access=access))
    assert result.verdict is Verdict.DERIVED and result.grade == "exact copy at GGUF Q8_0", result.note
