"""Shared fixtures: seeded zoo models (built once per cache) and the real checkpoints in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("LLM_LINEAGE_CACHE", str(REPO / ".cache"))
SHARED_MODELS = Path(os.environ.get("LLM_LINEAGE_SHARED_MODELS", REPO.parent / "shared" / "models"))

# the zoo's trained models: victim and unrelated controls share architecture, data and steps
TRAIN_STEPS = 300


@pytest.fixture(scope="session", autouse=True)
def reference_folder(tmp_path_factory) -> Path:
    """``$LLM_LINEAGE_REFERENCES`` for the whole run: the zoo's unrelated reference models (the victim's
    recipe, other seeds; built here explicitly, as a user would bring theirs) and the shared real
    checkpoints. Methods never train a model for a null; this is where tests' nulls come from."""
    from llm_lineage import zoo

    folder = tmp_path_factory.mktemp("references")
    for path in zoo.null_models("llama", train_steps=TRAIN_STEPS):
        (folder / path.name).symlink_to(path, target_is_directory=True)
    if (SHARED_MODELS / "hf").is_dir():
        (folder / "hf").symlink_to(SHARED_MODELS / "hf", target_is_directory=True)
    os.environ["LLM_LINEAGE_REFERENCES"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def victim() -> Path:
    from llm_lineage import zoo

    return zoo.build("llama", seed=0, train_steps=TRAIN_STEPS)


@pytest.fixture(scope="session")
def unrelated_llama() -> Path:
    from llm_lineage import zoo

    return zoo.build("llama", seed=7, train_steps=TRAIN_STEPS)


@pytest.fixture(scope="session")
def unrelated_qwen2() -> Path:
    from llm_lineage import zoo

    return zoo.build("qwen2", seed=3, train_steps=TRAIN_STEPS)


@pytest.fixture(scope="session")
def shared_models() -> Path:
    if not (SHARED_MODELS / "hf").is_dir():
        pytest.skip(f"real checkpoints not present at {SHARED_MODELS}")
    return SHARED_MODELS


# the victim behind the in-process server, and the same model queried directly as the truth
@pytest.fixture(scope="module")
def backend(victim):
    from llm_lineage.serve import LocalBackend

    return LocalBackend(victim)


@pytest.fixture(scope="module")
def reference(victim):
    from llm_lineage.outputs.local import LocalModel

    return LocalModel(victim)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of its own in a temporary directory (``llm_lineage.testing.temporary_postgres``);
    skipped with the reason when no server or no driver is installed."""
    from llm_lineage.testing import PostgresUnavailable, temporary_postgres

    try:
        with temporary_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def new_postgres_database(postgres_server):
    """Makes a fresh database on the test server; returns its URL."""
    return postgres_server.new_database


@pytest.fixture
def postgres_url(new_postgres_database, monkeypatch, tmp_path):
    """A fresh database on the test server, and a blob folder of its own."""
    monkeypatch.setenv("LLM_LINEAGE_BLOBS", str(tmp_path / "blobs"))
    return new_postgres_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_at(request, tmp_path):
    """Where a new registry goes, on each backend: a SQLite path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "r.sqlite")
    return request.getfixturevalue("postgres_url")
