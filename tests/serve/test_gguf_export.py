"""GGUF export for the llama.cpp test: every tensor reads back equal through our own GGUF reader."""

from __future__ import annotations

import numpy as np

from llm_lineage.serve.gguf_export import export_llama_gguf
from llm_lineage.weights import open_checkpoint


def test_export_round_trips_through_the_gguf_reader(victim, tmp_path):
    path = export_llama_gguf(victim, tmp_path / "victim.gguf")
    original, exported = open_checkpoint(victim), open_checkpoint(path)
    assert exported.summary()["vocab_size"] == original.summary()["vocab_size"] == 512
    for role in ("lm_head", "embed_tokens"):
        np.testing.assert_array_equal(exported.tensor(role), original.tensor(role))
    for role in ("q_proj", "k_proj", "v_proj", "down_proj"):  # q/k permuted on write, un-permuted on read
        np.testing.assert_array_equal(exported.tensor(role, layer=1), original.tensor(role, layer=1))
