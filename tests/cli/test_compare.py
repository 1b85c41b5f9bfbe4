"""``llm-lineage compare``: JSON fields, figures, generic dispatch and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_lineage.cli.app import app
from llm_lineage.methods import METHODS, Kind, Method

runner = CliRunner()


@pytest.fixture(scope="module")
def finetuned_for_cli(victim: Path) -> Path:
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    # the same suspect as tests/methods/huref's `finetuned` fixture, so the cache serves both
    return derive(victim, "finetune", zoo.cache_dir().parent / "derived-huref" / "finetune-100", steps=100, seed=1)


def test_json_has_score_verdict_p_value_and_slices(victim: Path, finetuned_for_cli: Path) -> None:
    out = runner.invoke(app, ["compare", str(victim), str(finetuned_for_cli), "--method", "invariant",
                              "--layers=-2,-1", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["method"] == "invariant" and doc["verdict"] == "derived"
    assert 0 <= doc["p_value"] < 0.01 and doc["score"] > 50
    assert len(doc["slice_correlations"]) == 6


def test_all_methods_images_and_plots(victim: Path, finetuned_for_cli: Path, tmp_path: Path) -> None:
    out = runner.invoke(app, ["compare", str(victim), str(finetuned_for_cli), "--method", "all", "--json",
                              "--image", str(tmp_path / "pair.png"), "--plot", str(tmp_path / "plot.png")])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    white_box = {n for n, s in METHODS.items() if s.kind is Kind.WEIGHTS}
    assert {r["method"] for r in doc["results"]} == white_box
    assert {"huref", "invariant", "pcs"} <= white_box
    assert (tmp_path / "pair.png").stat().st_size > 1000
    for name in white_box:
        if type(METHODS[name]).plot is not Method.plot:
            assert (tmp_path / f"plot-{name}.png").is_file(), name


def test_table_output_and_errors(victim: Path, tmp_path: Path) -> None:
    out = runner.invoke(app, ["compare", str(victim), str(victim), "--method", "pcs"])
    assert out.exit_code == 0 and "derived" in out.output
    bad = runner.invoke(app, ["compare", str(victim), str(victim), "--method", "nope"], standalone_mode=False)
    assert "unknown method" in str(bad.exception)
    from llm_lineage.cli import main  # noqa: F401  (the CLI's error mapping is tested in test_errors.py)
    from llm_lineage.errors import InputError

    assert isinstance(bad.exception, InputError) and bad.exception.exit_code == 2
    layers = runner.invoke(app, ["compare", str(victim), str(victim), "--layers", "x"], standalone_mode=False)
    assert isinstance(layers.exception, InputError)
    missing = runner.invoke(app, ["compare", str(tmp_path / "nothing"), str(victim)], standalone_mode=False)
    assert missing.exception is not None and getattr(missing.exception, "exit_code", 0) == 2


def test_fingerprint_image_and_compare_from_saved_files(victim: Path, finetuned_for_cli: Path, tmp_path: Path) -> None:
    made = runner.invoke(app, ["fingerprint", str(victim), "-o", str(tmp_path / "owner"), "--methods",
                               "invariant,huref", "--image", str(tmp_path / "owner.png")])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "owner.png").stat().st_size > 1000
    out = runner.invoke(app, ["compare", str(tmp_path / "owner.safetensors"), str(finetuned_for_cli),
                              "--method", "huref", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["verdict"] == "derived"


def test_user_token_list(victim: Path, tmp_path: Path) -> None:
    from llm_lineage.methods.huref.tokens import vocabulary
    from llm_lineage.weights import open_checkpoint

    strings, _ = vocabulary(open_checkpoint(victim))
    (tmp_path / "tokens.txt").write_text("\n".join(strings[3:67]) + "\n")
    out = runner.invoke(app, ["compare", str(victim), str(victim), "--method", "invariant", "--tokens",
                              str(tmp_path / "tokens.txt"), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["n_tokens"] == 64 and doc["score"] > 99.99
