"""The registry store: provenance, transactions, content-addressed blobs, crash safety, corruption."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from llm_lineage import __version__
from llm_lineage.errors import RegistryError
from llm_lineage.registry import Registry, default_path
from llm_lineage.weights import open_checkpoint

HERE = Path(__file__).resolve().parent


def test_add_records_provenance_and_fingerprints(registry_at, victim, fake_methods_installed):
    with Registry(registry_at, create=True) as reg:
        entry = reg.add(victim, name="owner", methods=["test-gram", "test-needs-bias"])
        prov = entry.provenance
        weights = victim / "model.safetensors"
        assert prov["weight_files"] == {"model.safetensors": hashlib.sha256(weights.read_bytes()).hexdigest()}
        assert prov["tokenizer_sha256"] == open_checkpoint(victim).tokenizer_hash() == entry.tokenizer_sha256
        assert prov["architecture"]["model_type"] == "llama" and prov["architecture"]["hidden_size"] == 64
        assert prov["tool_version"] == __version__ and prov["added_at"].endswith("+00:00")
        assert prov["source"] == str(victim.resolve())
        assert entry.methods == ["test-gram"]
        assert entry.fingerprints["test-needs-bias"].blob is None
        fp = reg.fingerprint("owner", "test-gram")
        np.testing.assert_allclose(fp.vector, fake_methods_installed["test-gram"].fingerprint(open_checkpoint(victim), None).vector)
        assert reg.names() == ["owner"] and len(reg) == 1 and reg.check() == []


def test_blobs_are_content_addressed_and_shared(registry_at, victim, fake_methods_installed):
    with Registry(registry_at, create=True) as reg:
        a = reg.add(victim, name="a", methods=["test-gram"])
        b = reg.add(victim, name="b", methods=["test-gram"])
        sha = a.fingerprints["test-gram"].blob
        assert sha == b.fingerprints["test-gram"].blob
        blob = reg.blob_path(sha)
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
        reg.remove("a")
        assert blob.is_file()  # still used by b
        reg.remove("b")
        assert not blob.exists() and reg.check() == []


def test_names_are_unique_unless_replaced(registry_at, victim, unrelated_llama):
    with Registry(registry_at, create=True) as reg:
        reg.add(victim, name="m", methods=[])
        with pytest.raises(RegistryError, match="already holds 'm'"):
            reg.add(unrelated_llama, name="m", methods=[])
        reg.add(unrelated_llama, name="m", methods=[], replace=True)
        assert reg.get("m").provenance["source"] == str(unrelated_llama.resolve())
        with pytest.raises(RegistryError, match="no entry 'x'"):
            reg.remove("x")
        with pytest.raises(RegistryError, match="unknown method"):
            reg.add(victim, name="n", methods=["no-such-method"])


def test_missing_registry_is_an_error_unless_created(tmp_path, monkeypatch):
    with pytest.raises(RegistryError, match="no registry at"):
        Registry(tmp_path / "absent.sqlite")
    monkeypatch.setenv("LLM_LINEAGE_REGISTRY", str(tmp_path / "env.sqlite"))
    assert default_path() == tmp_path / "env.sqlite"


@pytest.mark.parametrize("damage", ["garbage", "foreign-sqlite", "altered-blob"])
def test_corrupt_registry_gives_a_clear_error(tmp_path, victim, fake_methods_installed, damage):
    path = tmp_path / "r.sqlite"
    with Registry(path, create=True) as reg:
        for i in range(3):
            reg.add(victim, name=f"m{i}", methods=["test-gram"])
        sha = reg.get("m0").fingerprints["test-gram"].blob
        blob = reg.blob_path(sha)
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    elif damage == "foreign-sqlite":
        path.unlink()
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE people (name TEXT)")
    else:
        blob.write_bytes(blob.read_bytes()[:-8] + b"tampered")
        with Registry(path) as reg:
            assert any("altered" in p for p in reg.check())
            with pytest.raises(RegistryError, match="cannot be loaded"):
                reg.fingerprint("m0", "test-gram")
        return
    with pytest.raises(RegistryError):
        with Registry(path) as reg:
            reg.entries()


def test_readers_see_committed_state_while_a_writer_holds_its_transaction(tmp_path, victim):
    path = tmp_path / "r.sqlite"
    writer = Registry(path, create=True)
    writer.add(victim, name="before", methods=[])
    reader = Registry(path)
    other_writer = sqlite3.connect(path, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")  # holds the write lock, as an add in another process does
    other_writer.execute("UPDATE entries SET name='renamed' WHERE name='before'")
    assert reader.names() == ["before"]  # WAL: no blocking, no half-written view
    other_writer.execute("COMMIT")
    other_writer.close()
    assert reader.names() == ["renamed"]
    writer.close()
    reader.close()


def _kill_add_when(path: Path, victim: Path, marker: Path) -> subprocess.CompletedProcess:
    """Run ``llm-lineage registry add`` in a child that blocks in its last method; SIGKILL it there."""
    script = ("from llm_lineage.testing import install; install('test-gram', 'zz-slow'); "
              "from llm_lineage.cli import main; main()")
    env = {**os.environ, "REGISTRY_TEST_MARKER": str(marker), "REGISTRY_TEST_SLEEP": "120"}
    child = subprocess.Popen([sys.executable, "-c", script, "registry", "add", str(victim), "--name", "killed",
                              "--registry", str(path), "--methods", "test-gram,zz-slow"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            out, err = child.communicate()
            pytest.fail(f"the add never reached its last method: {err.decode()[-2000:]}")
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    out, err = child.communicate(timeout=30)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def test_killing_add_midway_leaves_the_registry_consistent(tmp_path, victim, unrelated_llama, fake_methods_installed):
    path = tmp_path / "r.sqlite"
    with Registry(path, create=True) as reg:
        reg.add(unrelated_llama, name="kept", methods=["test-gram"])
    done = _kill_add_when(path, victim, tmp_path / "marker")
    assert done.returncode == -signal.SIGKILL
    with Registry(path) as reg:
        assert reg.names() == ["kept"]                    # no half entry
        # every method runs before any blob is written, so a kill during the last one orphans nothing
        assert reg.check() == [] and reg.gc() == []
        assert reg.fingerprint("kept", "test-gram").vector.shape == (48 * 47 // 2,)
        reg.add(victim, name="killed", methods=["test-gram"])  # the same add now goes through
        assert reg.names() == ["kept", "killed"] and reg.check() == []


def test_a_newer_schema_is_refused(registry_at):
    with Registry(registry_at, create=True) as reg:
        with reg._write() as conn:
            conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(RegistryError, match="schema 99, newer than this version reads"):
        Registry(registry_at)


def test_concurrent_adds_lose_no_write(registry_at, victim, tmp_path):
    # eight processes add at once, two of them under one name: every other name lands, the clash
    # is refused in one of them, and nothing half-written remains
    names = ["a", "b", "c", "d", "e", "f", "g", "g"]
    Registry(registry_at, create=True).close()  # the hub's registry exists before its workers start
    procs = [subprocess.Popen([sys.executable, "-m", "llm_lineage.cli", "registry", "add", str(victim), "--name", n,
                               "--registry", registry_at, "--methods", "pcs", "--json"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "LLM_LINEAGE_NO_PROGRESS": "1"})
             for n in names]
    codes = [p.wait(timeout=600) for p in procs]
    errors = [p.stderr.read() for p in procs]
    assert sorted(codes) == [0] * 7 + [2], errors
    assert any("already holds 'g'" in e for e in errors)
    with Registry(registry_at) as reg:
        assert sorted(reg.names()) == ["a", "b", "c", "d", "e", "f", "g"] and reg.check() == []


def test_the_in_memory_summary_index_follows_writes_from_another_process(registry_at, victim, unrelated_llama):
    with Registry(registry_at, create=True) as reg, Registry(registry_at) as other:
        reg.add(victim, name="a", methods=[])
        assert other.summary_index().names == ["a"]
        first = other.summary_index()
        assert other.summary_index() is first  # read once, kept while nothing changes
        reg.add(unrelated_llama, name="b", methods=[])
        index = other.summary_index()
        assert index.names == ["a", "b"] and sum(len(p) for _, p, _ in index.groups.values()) == 2
        reg.remove("b")
        reg.add(unrelated_llama, name="c", methods=[])  # same count, and SQLite may reuse the id
        assert other.summary_index().names == ["a", "c"]


def test_an_attachment_is_kept_by_gc_checked_and_replaced(registry_at, victim):
    with Registry(registry_at, create=True) as reg:
        reg.add(victim, name="a", methods=[])
        assert reg.attachment("stylometry") is None
        first = reg.attach("stylometry", b"one")
        assert reg.gc() == [] and reg.check() == [] and reg.attachment("stylometry") == b"one"
        reg.attach("stylometry", b"two")  # the old blob is collected, the new one kept
        assert not reg.blob_path(first).exists() and reg.attachment("stylometry") == b"two"
        reg.blob_path(reg.attach("stylometry", b"three")).write_bytes(b"tampered")
        assert any("stylometry" in problem for problem in reg.check())
        with pytest.raises(RegistryError, match="missing or altered"):
            reg.attachment("stylometry")
