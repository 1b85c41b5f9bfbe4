"""``llm-lineage fingerprint`` and ``llm-lineage verify`` end to end (typer runner, real zoo models)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from llm_lineage.cli.app import app


def test_fingerprint_then_verify_json(tmp_path, victim, unrelated_llama):
    runner = CliRunner()
    out = runner.invoke(app, ["fingerprint", str(victim), "-o", str(tmp_path / "key"), "--methods", "subspace",
                              "--json"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "key.safetensors").is_file() and (tmp_path / "key.json").is_file()
    manifest = json.loads((tmp_path / "key.json").read_text())
    assert manifest["fingerprints"]["subspace"]["fields"]["n_tokens"] == 192

    for suspect, verdict in ((victim, "derived"), (unrelated_llama, "unrelated")):
        out = runner.invoke(app, ["verify", "--owner", str(tmp_path / "key.safetensors"), "--suspect", str(suspect),
                                  "--access", "topk", "--top-k", "5", "--outputs", "24", "--json"])
        assert out.exit_code == 0, out.output
        doc = json.loads(out.stdout)
        assert doc["verdict"] == verdict and doc["access"] == "topk"
        assert doc["queries"] > doc["outputs"] == 24
        assert {"median_residual", "threshold", "residuals"} <= set(doc["compatibility"])
        assert {"extra_dimensions", "hidden_size", "spectrum"} <= set(doc["alignment"])
        assert doc["estimated_hidden_size"] > 0


def test_verify_errors_are_one_line(tmp_path, victim):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "from llm_lineage.cli import main; main()", "verify", "--owner",
                           str(victim), "--suspect", str(tmp_path / "nope")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
