"""Merged LoRA attacks: the change is exactly rank r where it was applied, nothing elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from llm_lineage.attacks import derive
from llm_lineage.attacks.registry import load_kinds
from llm_lineage.weights import open_checkpoint

QUICK = dict(steps=4, batch_size=2, seq_len=16, seed=0)


def _rank(delta: np.ndarray) -> int:
    s = np.linalg.svd(delta, compute_uv=False)
    return int(np.sum(s > s[0] * 1e-4)) if s[0] > 0 else 0


def test_kinds_are_registered():
    kinds = load_kinds()
    assert {"lora-qkv", "lora-head"} <= set(kinds)


@pytest.mark.parametrize("rank", [2, 5])
def test_lora_head_changes_lm_head_by_exactly_rank_r(tmp_path, victim, rank):
    out = derive(victim, "lora-head", tmp_path / "head", rank=rank, **QUICK)
    before, after = open_checkpoint(victim), open_checkpoint(out)
    delta = after.tensor("lm_head", dtype=np.float64) - before.tensor("lm_head", dtype=np.float64)
    assert _rank(delta) == rank
    np.testing.assert_array_equal(after.tensor("q_proj", 0), before.tensor("q_proj", 0))


def test_lora_qkv_changes_attention_only(tmp_path, victim):
    out = derive(victim, "lora-qkv", tmp_path / "qkv", rank=3, **QUICK)
    before, after = open_checkpoint(victim), open_checkpoint(out)
    np.testing.assert_array_equal(after.tensor("lm_head"), before.tensor("lm_head"))
    for role in ("q_proj", "k_proj", "v_proj"):
        delta = after.tensor(role, 1, dtype=np.float64) - before.tensor(role, 1, dtype=np.float64)
        assert _rank(delta) == 3
    np.testing.assert_array_equal(after.tensor("o_proj", 1), before.tensor("o_proj", 1))


def test_lora_head_on_a_tied_model_unties_first(tmp_path):
    from llm_lineage import zoo

    victim = zoo.build("gpt2", seed=0)
    out = derive(victim, "lora-head", tmp_path / "gpt2-head", rank=2, **QUICK)
    before, after = open_checkpoint(victim), open_checkpoint(out)
    assert not after.config.tie_word_embeddings
    np.testing.assert_array_equal(after.tensor("embed_tokens"), before.tensor("embed_tokens"))
    delta = after.tensor("lm_head", dtype=np.float64) - before.tensor("embed_tokens", dtype=np.float64)
    assert _rank(delta) == 2
