"""``llm-lineage registry ...`` and ``llm-lineage search`` through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-c", "from llm_lineage.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_registry_commands_and_search_json(request, registry_at, tmp_path, victim, unrelated_llama, unrelated_qwen2):
    import os

    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    reg = registry_at
    for name, path in (("owner", victim), ("llama-other", unrelated_llama), ("qwen2-other", unrelated_qwen2)):
        done = _cli("registry", "add", path, "--name", name, "--registry", reg, "--methods", "std-profile", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["name"] == name
    listed = json.loads(_cli("registry", "list", "--registry", reg, "--json").stdout)
    assert [e["name"] for e in listed["entries"]] == ["owner", "llama-other", "qwen2-other"]
    shown = json.loads(_cli("registry", "show", "owner", "--registry", reg, "--json").stdout)
    assert shown["provenance"]["weight_files"] and shown["methods"] == ["std-profile"]

    suspect = derive(victim, "finetune", zoo.cache_dir().parent / "registry-tests" / "llama-owner-finetune",
                     steps=100, seed=1)
    done = _cli("search", suspect, "--registry", reg, "--top", "2", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [c["name"] for c in result["candidates"]][0] == "owner"
    assert {"name", "verdict", "scores"} <= set(result["candidates"][0]) and len(result["candidates"]) == 2
    assert "summary" in result["candidates"][0]["scores"]
    assert _cli("search", suspect, "--registry", reg).returncode == 0

    archive = tmp_path / "export.zip"
    assert _cli("registry", "export", archive, "--registry", reg).returncode == 0
    # the copy on the same backend; a PostgreSQL copy is another database with a blob folder of its own
    # (a blob folder belongs to one registry: garbage collection in one would delete the other's blobs)
    other, env = tmp_path / "copy.sqlite", None
    if str(reg).startswith("postgresql://"):
        other = request.getfixturevalue("new_postgres_database")()
        env = {**os.environ, "LLM_LINEAGE_BLOBS": str(tmp_path / "copy-blobs")}
    done = _cli("registry", "import", archive, "--registry", other, env=env)
    assert done.returncode == 0 and "imported 3" in done.stdout
    copied = json.loads(_cli("registry", "list", "--registry", other, "--json", env=env).stdout)
    assert [e["name"] for e in copied["entries"]] == ["owner", "llama-other", "qwen2-other"]
    assert "consistent" in _cli("registry", "check", "--registry", other, env=env).stdout
    assert _cli("registry", "remove", "llama-other", "--registry", other, env=env).returncode == 0
    assert "consistent" in _cli("registry", "check", "--registry", reg).stdout  # the original kept its blobs
    assert "imported 1" in _cli("registry", "import", archive, "--registry", other, env=env).stdout


def test_corrupt_registry_is_one_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not sqlite at all" * 200)
    for args in (("registry", "list"), ("search", tmp_path)):
        done = _cli(*args, "--registry", bad)
        assert done.returncode == 2
        assert done.stderr.startswith("error: registry") and "Traceback" not in done.stderr
    missing = _cli("registry", "show", "x", "--registry", tmp_path / "absent.sqlite")
    assert missing.returncode == 2 and "no registry at" in missing.stderr


def test_an_empty_file_is_not_an_empty_registry_and_check_fails_when_inconsistent(tmp_path, victim):
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    done = _cli("registry", "list", "--registry", empty)
    assert done.returncode == 2 and "empty (0 bytes)" in done.stderr

    reg = tmp_path / "reg.sqlite"
    assert _cli("registry", "add", victim, "--name", "owner", "--registry", reg, "--methods", "pcs").returncode == 0
    assert _cli("registry", "check", "--registry", reg).returncode == 0
    (tmp_path / "reg.sqlite.blobs" / "stray").mkdir(parents=True)
    (tmp_path / "reg.sqlite.blobs" / "stray" / "left.safetensors").write_bytes(b"x")
    report = _cli("registry", "check", "--registry", reg, "--json")
    assert report.returncode == 2 and json.loads(report.stdout)["consistent"] is False
    repaired = _cli("registry", "check", "--registry", reg, "--repair", "--json")
    assert repaired.returncode == 0, repaired.stderr
    assert json.loads(repaired.stdout)["removed"] == ["left.safetensors"]
    assert not (tmp_path / "reg.sqlite.blobs" / "stray" / "left.safetensors").exists()
    assert _cli("registry", "check", "--registry", reg).returncode == 0
