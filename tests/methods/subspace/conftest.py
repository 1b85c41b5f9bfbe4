"""Fixtures for the subspace tests: the owner key, derived suspects (merged LoRA), local models."""

from __future__ import annotations

from pathlib import Path

import pytest

# LoRA kept small and short: enough to move B off zero (rank-r change), cheap on two CPU cores
LORA = dict(steps=20, batch_size=4, seq_len=32, seed=1)


@pytest.fixture(scope="session")
def owner_key(victim):
    from llm_lineage.methods.subspace import owner_key
    from llm_lineage.weights import open_checkpoint

    return owner_key(open_checkpoint(victim))


@pytest.fixture(scope="session")
def lora_suspects(victim) -> dict[str, Path]:
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    root = zoo.cache_dir().parent / "subspace-tests"
    out = {f"head{r}": derive(victim, "lora-head", root / f"lora-head-r{r}", rank=r, **LORA) for r in (4, 8, 16)}
    out["qkv"] = derive(victim, "lora-qkv", root / "lora-qkv-r8", rank=8, **LORA)
    return out


@pytest.fixture(scope="session")
def local_models():
    """One LocalModel per (path, dtype), shared so that forward passes are cached across modes."""
    from llm_lineage.outputs import LocalModel

    cache: dict[tuple[str, str], LocalModel] = {}

    def get(path: Path, dtype: str = "float32") -> LocalModel:
        key = (str(path), dtype)
        if key not in cache:
            cache[key] = LocalModel(path, dtype=dtype)
        return cache[key]

    return get
