"""A PEFT adapter folder given as a model: its base with the adapter merged in, in every command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _adapter(victim: Path, out: Path, **lora: object) -> Path:
    """A LoRA adapter of ``victim`` with non-zero B (as after training), saved as peft saves it."""
    import torch
    from peft import LoraConfig, get_peft_model

    from llm_lineage.weights.hf_model import load_model

    torch.manual_seed(0)
    model = get_peft_model(load_model(victim), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                          init_lora_weights=False, **lora))
    model.save_pretrained(out)
    return out


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm_lineage.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("variant", [{}, {"use_dora": True}, {"use_rslora": True}], ids=["lora", "dora", "rslora"])
def test_an_adapter_folder_is_its_base_with_the_adapter_merged(victim, tmp_path, variant):
    from llm_lineage.weights import open_checkpoint
    from llm_lineage.weights.hub import origin
    from llm_lineage.weights.locate import locate_model

    adapter = _adapter(victim, tmp_path / "adapter", **variant)
    merged = locate_model(adapter)
    assert origin(merged)["adapter"] == str(adapter.absolute()) and origin(merged)["use_dora"] == bool(variant.get("use_dora"))
    base, copy = open_checkpoint(victim), open_checkpoint(merged)
    assert copy.name == "adapter"
    # q_proj moved by the adapter's delta, the untouched MLP is the base's bit for bit
    assert (copy.tensor("q_proj", 0) != base.tensor("q_proj", 0)).any()
    assert (copy.tensor("up_proj", 0) == base.tensor("up_proj", 0)).all()
    assert locate_model(adapter) == merged  # built once


def test_check_names_an_adapter_derived_and_judges_its_card(victim, unrelated_llama, tmp_path):
    adapter = _adapter(victim, tmp_path / "thief-adapter")
    (adapter / "README.md").write_text("---\nbase_model: owner-org/victim\nbase_model_relation: adapter\n---\n")
    proc = _cli("check", str(victim), str(adapter), "--methods", "tracing", "--owner-id", "owner-org/victim", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["verdict"] == "derived" and result["claim"]["status"] == "consistent"
    assert any(line.startswith("whether the adapter itself was trained") and "adapter-base" in line
               for line in result["not_tested"])
    assert result["provenance"]["models"]["suspect"]["origin"]["adapter"] == str(adapter.absolute())

    # search judges the card against the registered owner it names
    registry = str(tmp_path / "reg.sqlite")
    for model, name in ((victim, "owner-org/victim"), (unrelated_llama, "someone/other")):
        assert _cli("registry", "add", str(model), "--name", name, "--registry", registry, "--methods",
                    "tracing").returncode == 0
    found = json.loads(_cli("search", str(adapter), "--registry", registry, "--json").stdout)
    assert found["candidates"][0]["name"] == "owner-org/victim"
    assert found["claim"]["status"] == "consistent" and found["claim"]["owner"] == "owner-org/victim"

    (adapter / "README.md").write_text("---\nbase_model: someone/other\n---\n")
    found = json.loads(_cli("search", str(adapter), "--registry", registry, "--json").stdout)
    assert found["claim"]["status"] == "inconsistent" and found["claim"]["owner"] == "someone/other"
    wrong = json.loads(_cli("check", str(victim), str(adapter), "--methods", "tracing", "--owner-id",
                            "owner-org/victim", "--json").stdout)
    assert wrong["claim"]["status"] == "inconsistent"

    # the base named with --base wins over the one the adapter names (here: the wrong one)
    elsewhere = json.loads(_cli("check", str(victim), str(adapter), "--base", str(unrelated_llama), "--methods",
                                "tracing", "--json").stdout)
    assert elsewhere["verdict"] == "unrelated"


def test_an_adapter_whose_base_is_missing_is_one_line(victim, tmp_path):
    adapter = _adapter(victim, tmp_path / "adapter")
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "nobody/nothing"
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    proc = _cli("inspect", str(adapter))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "PEFT adapter on nobody/nothing, which cannot be found" in proc.stderr.splitlines()[0]


def test_a_truncated_adapter_is_one_line(victim, tmp_path):
    adapter = _adapter(victim, tmp_path / "adapter")
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    proc = _cli("inspect", str(adapter))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not a readable safetensors file" in proc.stderr.splitlines()[0]
