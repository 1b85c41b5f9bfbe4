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
def zoo_registry_sqlite(tmp_path_factory, owners, unrelated) -> Path:
    """A registry of the owners and unrelated models, fingerprinted with every registered method."""
    from llm_lineage.registry import Registry

    path = tmp_path_factory.mktemp("registry") / "zoo.sqlite"
    with Registry(path, create=True) as reg:
        for name, model in {**owners, **unrelated}.items():
            reg.add(model, name=name)
    return path


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def zoo_registry(request, zoo_registry_sqlite, tmp_path_factory):
    """The zoo registry on each backend; the PostgreSQL one is filled by export and import (the same
    entries, no second fingerprinting), its blobs in the per-database default folder."""
    import shutil

    from llm_lineage.registry import Registry
    from llm_lineage.registry.archive import export_registry, import_registry

    if request.param == "sqlite":
        reg = Registry(zoo_registry_sqlite)
    else:
        url = request.getfixturevalue("new_postgres_database")()
        archive = tmp_path_factory.mktemp("zoo-export") / "zoo.zip"
        with Registry(zoo_registry_sqlite) as source:
            export_registry(source, archive)
        reg = Registry(url, create=True)
        import_registry(reg, archive)
    yield reg
    reg.close()
    if request.param == "postgresql":
        shutil.rmtree(reg.blob_dir, ignore_errors=True)
