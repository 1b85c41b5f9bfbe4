"""`llm-lineage attack` and `llm-lineage evaluate` end to end through the typer app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from llm_lineage.cli.app import app

runner = CliRunner()


def test_attack_command_writes_a_model_and_manifest(victim, tmp_path):
    out = tmp_path / "scaled"
    result = runner.invoke(app, ["attack", str(victim), "--kind", "scale", "--seed", "2", "--option", "factor=2",
                                 "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["path"] == str(out)
    assert json.loads((out / "attack.json").read_text())["options"] == {"seed": 2, "factor": 2}


def test_attack_command_maps_bad_input_to_exit_code_2(victim, tmp_path):
    from llm_lineage.errors import InputError  # cli.main maps it to one line and its exit code

    result = runner.invoke(app, ["attack", str(victim), "--kind", "steal", "-o", str(tmp_path / "x")])
    assert isinstance(result.exception, InputError) and result.exception.exit_code == 2


def test_evaluate_command_writes_the_report(head_cosine, victim, unrelated_llama, tmp_path):
    result = runner.invoke(app, ["evaluate", "--victim", str(victim), "--attacks", "quantize:bits=8",
                                 "--unrelated", str(unrelated_llama), "--method", "head-cosine", "-o",
                                 str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (tmp_path / "report.html").is_file() and doc["results"] == str(tmp_path / "results.json")
    assert [s["method"] for s in doc["summaries"]] == ["head-cosine[weights]", "head-cosine[rows]"]
    assert all(s["n_derived"] == 1 and s["n_unrelated"] == 1 for s in doc["summaries"])
