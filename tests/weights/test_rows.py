"""``Checkpoint.rows``: a few rows of a tensor without reading the rest, equal to slicing the whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from llm_lineage.weights import open_checkpoint


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_rows_equal_slicing(tmp_path: Path, dtype: str) -> None:
    import torch
    from safetensors.torch import save_file as save_torch

    weight = torch.randn(50, 12).to(getattr(torch, dtype))
    save_torch({"model.embed_tokens.weight": weight}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text('{"model_type": "llama", "hidden_size": 12, "num_hidden_layers": 0, '
                                          '"num_attention_heads": 1, "vocab_size": 50}')
    ckpt = open_checkpoint(tmp_path)
    rows = np.array([0, 7, 49, 3])
    np.testing.assert_array_equal(ckpt.rows("embed_tokens", rows), ckpt.tensor("embed_tokens")[rows])


def test_rows_of_real_checkpoints(shared_models: Path) -> None:
    rows = np.array([1, 100, 511])
    for path in (shared_models / "hf" / "stories260k", shared_models / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"):
        ckpt = open_checkpoint(path)
        np.testing.assert_array_equal(ckpt.rows("embed_tokens", rows), ckpt.tensor("embed_tokens")[rows])


def test_rows_reject_non_finite(tmp_path: Path) -> None:
    from llm_lineage.errors import NonFiniteWeights

    weight = np.ones((4, 3), dtype=np.float32)
    weight[2, 1] = np.nan
    save_file({"model.embed_tokens.weight": weight}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text('{"model_type": "llama", "hidden_size": 3, "num_hidden_layers": 0, '
                                          '"num_attention_heads": 1, "vocab_size": 4}')
    ckpt = open_checkpoint(tmp_path)
    assert ckpt.rows("embed_tokens", np.array([0, 1])).shape == (2, 3)
    with pytest.raises(NonFiniteWeights):
        ckpt.rows("embed_tokens", np.array([2]))
