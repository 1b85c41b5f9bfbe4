"""``llm-lineage plot-profiles``: a figure, pairwise scores as a table or JSON, one-line errors."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from llm_lineage.cli.app import app

from .conftest import write_checkpoint


def test_plot_profiles_writes_the_figure_and_scores_every_pair(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.02, 0.1, (4, 6))
    models = [write_checkpoint(tmp_path / "a", base, seed=1), write_checkpoint(tmp_path / "b", base, seed=2),
              write_checkpoint(tmp_path / "c", rng.uniform(0.02, 0.1, (4, 6)), seed=3)]
    out = tmp_path / "fig.png"
    result = CliRunner().invoke(app, ["plot-profiles", *map(str, models), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["models"] == ["a", "b", "c"] and report["n_layers"] == [6, 6, 6]
    scores = np.array(report["scores"])
    assert scores.shape == (3, 3) and np.allclose(np.diag(scores), 1.0) and np.allclose(scores, scores.T)
    assert scores[0, 1] > 0.95 > scores[0, 2]  # same profile, other draws vs another profile
    assert out.is_file() and out.stat().st_size > 10_000
    table = CliRunner().invoke(app, ["plot-profiles", *map(str, models[:2]), "-o", str(tmp_path / "t.png")])
    assert table.exit_code == 0 and "figure written to" in table.stdout


def test_a_missing_model_is_one_line_and_exit_code_2(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "from llm_lineage.cli import main; main()", "plot-profiles",
                           str(tmp_path / "nope"), "-o", str(tmp_path / "x.png")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
