"""Fixtures for attack tests: fixed input ids and a helper that runs a model on them."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def input_ids() -> torch.Tensor:
    return torch.randint(3, 512, (2, 24), generator=torch.Generator().manual_seed(0))


def logits(model, input_ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids).logits.double()


@pytest.fixture(scope="session")
def gpt2_model_dir():
    """A GPT-2 zoo model (seeded random weights): the tied-embedding, Conv1D, LayerNorm layout."""
    from llm_lineage import zoo

    return zoo.build("gpt2", seed=0)
