"""Derived suspects of the zoo victim for the HuRef and PCS tests, built once and cached."""

from __future__ import annotations

from pathlib import Path

import pytest


def _derived_root() -> Path:
    from llm_lineage import zoo

    return zoo.cache_dir().parent / "derived-huref"


@pytest.fixture(scope="session")
def finetuned(victim: Path) -> Path:
    from llm_lineage.attacks import derive

    return derive(victim, "finetune", _derived_root() / "finetune-100", steps=100, seed=1)


@pytest.fixture(scope="session")
def lora_merged(victim: Path) -> Path:
    from llm_lineage.attacks import derive

    return derive(victim, "lora-qkv", _derived_root() / "lora-qkv-r8", rank=8, seed=2)


@pytest.fixture(scope="session")
def continued(victim: Path) -> Path:
    from llm_lineage.attacks import derive

    return derive(victim, "continue-pretrain", _derived_root() / "continue-pretrain", seed=3)
