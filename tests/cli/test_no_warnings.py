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
])
def test_readme_commands_print_no_warning(shared_models, command, monkeypatch):
    monkeypatch.delenv("LLM_LINEAGE_REFERENCES", raising=False)
    args = [part.format(hf=shared_models / "hf") for part in command]
    done = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if "Warning" in line or "warnings.warn" in line]
    assert not warnings, warnings
