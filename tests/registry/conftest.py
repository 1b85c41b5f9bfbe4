"""Registry fixtures: zoo owners, unrelated models and models derived from each owner."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TRAIN_STEPS = 300  # as tests/conftest.py: owners and unrelated controls trained alike


@pytest.fixture()
def fake_methods_installed():
    """Registers the toy methods of ``llm_lineage.testing`` for one test; yields the instances."""
    from llm_lineage.testing import installed

    with installed("test-gram", "test-needs-bias") as methods:
        yield methods


@pytest.fixture(scope="session")
def owners(victim) -> dict[str, Path]:
    from llm_lineage import zoo

    return {"llama-owner": victim,
            "qwen2-owner": zoo.build("qwen2", seed=0, train_steps=TRAIN_STEPS),
            "gpt2-owner": zoo.build("gpt2", seed=0, train_steps=TRAIN_STEPS)}


@pytest.fixture(scope="session")
def unrelated(unrelated_llama, unrelated_qwen2) -> dict[str, Path]:
    return {"llama-other": unrelated_llama, "qwen2-other": unrelated_qwen2}


@pytest.fixture(scope="session")
def derived(owners) -> dict[str, Path]:
    """One fine-tuned descendant per owner (a corpus the owner never saw), keyed by its owner."""
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    root = zoo.cache_dir().parent / "registry-tests"
    return {name: derive(path, "finetune", root / f"{name}-finetune", steps=100, seed=1)
            for name, path in owners.items()}


@pytest.fixture(scope="session")
def stranger() -> Path:
    """Unrelated to every registered model and not registered itself."""
    from llm_lineage import zoo

    return zoo.build("llama", seed=1, train_steps=200)


@pytest.fixture(scope="session")
def zoo_registry(tmp_path_factory, owners, unrelated):
    """A registry of the owners and unrelated models, fingerprinted with every registered method."""
    from llm_lineage.registry import Registry

    reg = Registry(tmp_path_factory.mktemp("registry") / "zoo.sqlite", create=True)
    for name, path in {**owners, **unrelated}.items():
        reg.add(path, name=name)
    yield reg
    reg.close()
