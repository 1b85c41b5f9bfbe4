"""Fixtures for the std-profile tests: synthetic checkpoints with chosen profiles, and deep zoo models.

The zoo's standard victim has two layers, over which any Pearson correlation is +-1, so the
lineage tests use an eight-layer victim trained by the zoo's recipe, and derive suspects from it.
Null models are zoo models of the victim's shape (other seeds, the same recipe), built explicitly
with ``zoo.null_models`` and handed in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

DEEP_LAYERS = 8
TRAIN_STEPS = 300  # the zoo's standard victim recipe (tests/conftest.py)


def write_checkpoint(path: Path, sigma: np.ndarray, *, hidden: int = 32, seed: int = 0,
                     dtype: str = "float32", norms: np.ndarray | None = None) -> Path:
    """A llama-layout safetensors directory whose q/k/v/o in layer l have std ``sigma[:, l]``.

    Only attention weights (and optional norm gains) are written: enough for this method, and
    the weights are Gaussian so the realised std is within ~1/sqrt(2 n) of the target.
    """
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(seed)
    n_layers = sigma.shape[1]
    tensors = {}
    for layer in range(n_layers):
        for i, proj in enumerate(("q_proj", "k_proj", "v_proj", "o_proj")):
            w = rng.standard_normal((hidden, hidden)) * sigma[i, layer]
            tensors[f"model.layers.{layer}.self_attn.{proj}.weight"] = torch.from_numpy(w).to(getattr(torch, dtype))
        if norms is not None:
            tensors[f"model.layers.{layer}.input_layernorm.weight"] = torch.from_numpy(
                1.0 + norms[layer] * rng.standard_normal(hidden)).to(getattr(torch, dtype))
    path.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path / "model.safetensors"))
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": hidden,
              "num_hidden_layers": n_layers, "num_attention_heads": 4, "num_key_value_heads": 4,
              "intermediate_size": 2 * hidden, "vocab_size": 16, "tie_word_embeddings": True}
    (path / "config.json").write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def deep_victim() -> Path:
    from llm_lineage import zoo

    return zoo.build("llama", seed=0, train_steps=TRAIN_STEPS, num_hidden_layers=DEEP_LAYERS)


@pytest.fixture(scope="session")
def derived_dir() -> Path:
    from llm_lineage import zoo

    return zoo.cache_dir().parent / "stdprofile-derived"
