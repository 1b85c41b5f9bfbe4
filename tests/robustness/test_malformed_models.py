"""Malformed or hostile model directories: one clear error and exit 2, never a traceback, hang or wrong answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm_lineage.errors import ConfigError, CorruptCheckpoint, InputError, PickleRefused, UnsupportedFormat
from llm_lineage.weights import open_checkpoint


def _copy(victim: Path, tmp_path: Path, name: str = "model") -> Path:
    out = tmp_path / name
    shutil.copytree(victim, out)
    return out


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm_lineage.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "LLM_LINEAGE_NO_PROGRESS": "1"})


def _one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert needle in proc.stderr, proc.stderr


def test_index_naming_a_shard_outside_the_folder_is_refused(victim: Path, tmp_path: Path) -> None:
    model = _copy(victim, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (model / "model.safetensors").rename(outside / "other.safetensors")
    for shard in ("../outside/other.safetensors", str(outside / "other.safetensors"), "/etc/passwd"):
        (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"lm_head.weight": shard}}))
        with pytest.raises(CorruptCheckpoint, match="outside"):
            open_checkpoint(model)
    _one_line_error(_cli("inspect", str(model)), "outside")


@pytest.mark.parametrize("weight_map", [["a", "b"], {"lm_head.weight": 3}, "text"])
def test_index_of_the_wrong_shape_is_a_clear_error(victim: Path, tmp_path: Path, weight_map) -> None:
    model = _copy(victim, tmp_path)
    (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(CorruptCheckpoint, match="weight_map"):
        open_checkpoint(model)


def test_a_named_pipe_is_refused_not_waited_on(victim: Path, tmp_path: Path) -> None:
    model = _copy(victim, tmp_path)
    (model / "model.safetensors").unlink()
    os.mkfifo(model / "model.safetensors")
    with pytest.raises(UnsupportedFormat, match="not a regular file"):
        open_checkpoint(model)
    _one_line_error(_cli("inspect", str(model), timeout=60), "not a regular file")


def test_declared_sizes_are_checked_against_the_tensors(victim: Path, tmp_path: Path) -> None:
    model = _copy(victim, tmp_path)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "vocab_size": config["vocab_size"] * 2}))
    with pytest.raises(ConfigError, match="vocab_size"):
        open_checkpoint(model)
    (model / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 1}))
    with pytest.raises(ConfigError, match="layers"):
        open_checkpoint(model)


def test_attack_and_local_suspects_go_through_the_pickle_gate(victim: Path, tmp_path: Path) -> None:
    """A directory holding only pytorch_model.bin is refused by every path that loads weights."""
    import torch

    from llm_lineage import zoo

    model = _copy(victim, tmp_path)
    marker = tmp_path / "ran"
    state = zoo.load(victim).state_dict()
    (model / "model.safetensors").unlink()
    torch.save(state, model / "pytorch_model.bin")
    with pytest.raises(PickleRefused):
        zoo.load(model)
    _one_line_error(_cli("attack", str(model), "--kind", "quantize", "-o", str(tmp_path / "out")), "pickle")
    _one_line_error(_cli("verify", "--owner", str(victim), "--suspect", str(model)), "pickle")
    assert not marker.exists()


def test_missing_weights_are_an_error_not_a_random_model(victim: Path, tmp_path: Path) -> None:
    """transformers would initialise absent tensors at random; the gate names them instead."""
    from safetensors.numpy import load_file, save_file

    from llm_lineage import zoo

    model = _copy(victim, tmp_path)
    tensors = load_file(model / "model.safetensors")
    del tensors[next(k for k in tensors if k.endswith("layers.1.mlp.down_proj.weight"))]
    save_file(tensors, model / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(InputError, match="lacks"):
        zoo.load(model)
