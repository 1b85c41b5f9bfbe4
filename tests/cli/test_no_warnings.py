"""Normal use prints no library warning: the README's commands, as processes, leave no ``Warning``
line on stderr (a RuntimeWarning from an empty null used to precede every reference-less verdict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("llm-lineage"))


@pytest.mark.parametrize("command", [
    ["check", "{hf}/stories260k", "{hf}/stories260k-q80"],
    ["check", "{hf}/stories260k", "{hf}/llama2xs", "--json"],
    ["compare", "{hf}/stories260k", "{hf}/stories260k-q80"],
    ["compare", "{hf}/stories260k", "{hf}/aidreams260k", "--method", "all"],
    ["verify", "--owner", "{hf}/stories260k", "--suspect", "{hf}/stories260k-q80"],
    ["inspect", "{hf}/babyllama-tok105"],
    ["fingerprint", "{hf}/stories260k", "-o", "{tmp}/key"],
    ["attack", "{hf}/stories260k", "--kind", "quantize", "-o", "{tmp}/quantized"],
    ["attack", "{hf}/stories260k", "--kind", "extend-vocab", "-o", "{tmp}/extended"],
    ["plot-profiles", "{hf}/stories260k", "{hf}/llama2xs", "-o", "{tmp}/profiles.png"],
])
def test_readme_commands_print_no_warning(shared_models, command, monkeypatch, tmp_path):
    monkeypatch.delenv("LLM_LINEAGE_REFERENCES", raising=False)
    run_quietly([part.format(hf=shared_models / "hf", tmp=tmp_path) for part in command])


def test_the_registry_commands_print_no_warning(shared_models, tmp_path):
    hf, registry = shared_models / "hf", str(tmp_path / "registry.sqlite")
    run_quietly(["registry", "add", str(hf / "stories260k"), "--registry", registry])
    run_quietly(["search", str(hf / "stories260k-q80"), "--registry", registry])
    run_quietly(["registry", "check", "--registry", registry])


def run_quietly(args: list[str]) -> None:
    """Run one command; it must succeed with no library warning, load report or bar on stderr."""
    done = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    noise = [line for line in done.stderr.splitlines()
             if "Warning" in line or "warnings.warn" in line or "UNEXPECTED" in line or "MISSING" in line]
    assert not noise, noise
