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


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of its own in a temporary directory (unix socket only, trust auth), as the
    ``postgres`` user when the tests run as root; skipped with the reason when no server is installed."""
    import getpass
    import glob
    import os
    import shutil
    import socket
    import subprocess

    pytest.importorskip("psycopg", reason='psycopg 3 is not installed: pip install "llm-lineage[scale]"')
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    bindir = next((d for d in bindirs if os.path.exists(f"{d}/initdb")), None)
    if bindir is None and shutil.which("initdb"):
        bindir = os.path.dirname(shutil.which("initdb"))  # type: ignore[arg-type]
    if bindir is None:
        pytest.skip("no PostgreSQL server installed (Debian: apt-get install postgresql)")
    import tempfile
    from pathlib import Path

    # not under pytest's temporary folder: that one is private to this user, and the server may
    # run as another
    root = Path(tempfile.mkdtemp(prefix="llm-lineage-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    user = "lineage"
    subprocess.run([*as_user, f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", user, "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                    f"-k {sockets} -p {port} -c listen_addresses='' -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield {"host": str(sockets), "port": port, "user": user, "runner": getpass.getuser()}
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, monkeypatch, tmp_path):
    """A fresh database on the test server, and a blob folder of its own."""
    import uuid

    import psycopg

    name = f"r_{uuid.uuid4().hex[:12]}"
    base = f"postgresql://{postgres_server['user']}@/postgres?host={postgres_server['host']}&port={postgres_server['port']}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    monkeypatch.setenv("LLM_LINEAGE_BLOBS", str(tmp_path / "blobs"))
    return base.replace("/postgres?", f"/{name}?")


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_at(request, tmp_path):
    """Where a new registry goes, on each backend: a SQLite path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "r.sqlite")
    return request.getfixturevalue("postgres_url")
