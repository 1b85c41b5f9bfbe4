"""Models named by hub id (``ORG/NAME[@REVISION]``): read from a Hugging Face cache tree built
here, offline, and fetched with ``--download`` from a stand-in hub named by ``HF_ENDPOINT``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .hub import StandInHub, cache_model, commit_sha

SHA = commit_sha("victim v1")


def _cli(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm_lineage.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "LLM_LINEAGE_NO_PROGRESS": "1", **env})


def _json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _one_line(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and needle in proc.stderr.splitlines()[0], proc.stderr


@pytest.fixture
def hub_cache(tmp_path, victim) -> Path:
    cache = tmp_path / "hf" / "hub"
    cache_model(cache, "owner-org/victim", victim, sha=SHA, refs=("main", "v1"))
    return cache


def test_commands_read_a_hub_id_from_the_cache(hub_cache, victim, tmp_path):
    env = {"HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1"}
    snapshot = hub_cache / "models--owner-org--victim" / "snapshots" / SHA

    shown = _json(_cli("inspect", "owner-org/victim", "--json", env=env))
    assert Path(shown["path"]) == snapshot

    # the revision's commit sha goes into the result's provenance, by branch, tag or sha
    for spec in ("owner-org/victim", "owner-org/victim@v1", f"owner-org/victim@{SHA}"):
        result = _json(_cli("check", spec, str(victim), "--methods", "tracing", "--json", env=env))
        assert result["verdict"] == "derived"
        assert result["provenance"]["models"]["owner"]["origin"] == {"hub_id": "owner-org/victim", "revision": SHA}

    compared = _json(_cli("compare", str(victim), "owner-org/victim", "-m", "tracing", "--json", env=env))
    assert compared["verdict"] == "derived"

    key = tmp_path / "victim.key.npz"
    _cli("fingerprint", "owner-org/victim", "-o", str(key), "--methods", "subspace", env=env).check_returncode()
    verified = _json(_cli("verify", "--owner", "owner-org/victim", "--suspect", str(victim), "--outputs", "8",
                          "--json", env=env))
    assert verified["verdict"] == "derived"

    registry = tmp_path / "reg.sqlite"
    _cli("registry", "add", "owner-org/victim", "--registry", str(registry), "--methods", "tracing",
         env=env).check_returncode()
    entry = _json(_cli("registry", "show", "owner-org/victim", "--registry", str(registry), "--json", env=env))
    assert entry["provenance"]["origin"] == {"hub_id": "owner-org/victim", "revision": SHA}
    found = _json(_cli("search", "owner-org/victim", "--registry", str(registry), "--json", env=env))
    assert found["candidates"][0]["name"] == "owner-org/victim"


def test_what_is_not_cached_is_one_line_and_never_fetched_silently(hub_cache):
    env = {"HF_HUB_CACHE": str(hub_cache), "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens there
    _one_line(_cli("inspect", "owner-org/victim@v2", env=env),
              "revision v2 of owner-org/victim is not in the Hugging Face cache")
    _one_line(_cli("inspect", "someone/else", env=env), "someone/else is not in the Hugging Face cache")
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    _one_line(_cli("inspect", "someone/else", "--download", env=offline), "HF_HUB_OFFLINE=1 forbids downloading")
    # a path that exists wins over an id of the same spelling
    (hub_cache.parent / "owner-org" / "victim").mkdir(parents=True)
    _one_line(_cli("inspect", "owner-org/victim", env=env, cwd=hub_cache.parent), "holds no")


def test_download_fetches_only_the_files_read(tmp_path, victim):
    hub = StandInHub()
    files = {p.name: p.read_bytes() for p in victim.iterdir() if p.is_file()}
    # what a real repo also holds, none of which llm-lineage reads
    files |= {"pytorch_model.bin": b"\0" * 64, "onnx/model.onnx": b"\0" * 64, "original/consolidated.pth": b"\0" * 8,
              "README.md": b"---\nbase_model: owner-org/victim\n---\n# a copy\n"}
    hub.add("thief/copy", files, sha=commit_sha("copy"))
    cache = tmp_path / "hub"
    with hub.serving() as url:
        env = {"HF_HUB_CACHE": str(cache), "HF_ENDPOINT": url}
        proc = _cli("check", str(victim), "thief/copy", "--download", "--methods", "tracing", "--json",
                    "--owner-id", "owner-org/victim", env=env)
        result = _json(proc)
        assert "downloading 6 files" in proc.stderr
        assert sorted(hub.fetched) == sorted(["config.json", "generation_config.json", "model.safetensors",
                                              "tokenizer.json", "tokenizer_config.json", "README.md"])
        assert result["verdict"] == "derived"
        assert result["provenance"]["models"]["suspect"]["origin"]["hub_id"] == "thief/copy"
        assert result["claim"]["status"] == "consistent"
        # now cached under refs/main: read again offline, nothing fetched
        hub.fetched.clear()
        _json(_cli("inspect", "thief/copy", "--json", env={**env, "HF_HUB_OFFLINE": "1"}))
        assert hub.fetched == []
        _one_line(_cli("inspect", "thief/nothing", "--download", env=env), "thief/nothing")
