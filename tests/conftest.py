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


@pytest.fixture(scope="session")
def new_postgres_database(postgres_server):
    """Makes a fresh database on the test server; returns its URL."""
    import uuid

    import psycopg

    base = f"postgresql://{postgres_server['user']}@/postgres?host={postgres_server['host']}&port={postgres_server['port']}"

    def create() -> str:
        name = f"r_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return base.replace("/postgres?", f"/{name}?")

    return create


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
