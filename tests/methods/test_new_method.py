"""A method added by its own code plus one registration line appears in compare, evaluate and the registry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from llm_lineage.cli.app import app
from llm_lineage.methods import Kind, Method, Result, register, unregister
from llm_lineage.stats import NullCalibration, calibrate, decide, summarize
from llm_lineage.weights import Checkpoint

runner = CliRunner()


@dataclass(frozen=True)
class NormConfig:
    alpha: float = 0.01


@dataclass(frozen=True)
class NormProfile:
    norms: np.ndarray   # per-row norm of 64 embedding rows


class RowNorms(Method[NormProfile, NormConfig, Result]):
    """Correlation of embedding row norms: a toy, written only here."""

    name = "toy-row-norms"
    kind = Kind.WEIGHTS
    config_cls = NormConfig
    fingerprint_cls = (NormProfile,)
    best_possible = 1.0
    describe = "toy: embedding row-norm correlation"

    def fingerprint(self, source: Checkpoint, config: NormConfig) -> NormProfile:
        rows = source.rows("embed_tokens", np.arange(64), dtype=np.float64)
        return NormProfile(np.linalg.norm(rows, axis=1))

    def score(self, owner_fp: NormProfile, suspect_fp: NormProfile, config: NormConfig) -> float:
        return float(np.corrcoef(owner_fp.norms, suspect_fp.norms)[0, 1])

    def compare(self, owner_fp: NormProfile, suspect_fp: NormProfile, *, null: NullCalibration | None,
                config: NormConfig) -> Result:
        null = null if null is not None else calibrate([])
        s = self.score(owner_fp, suspect_fp, config)
        return Result(method=self.name, score=s, p_value=null.p_value(s, config.alpha),
                      verdict=decide(s, null, alpha=config.alpha, best_possible=1.0), null=summarize(null))


@pytest.fixture
def toy():
    method = register(RowNorms())
    yield method
    unregister(method.name)


def test_compare_sees_the_new_method(toy, victim: Path) -> None:
    out = runner.invoke(app, ["compare", str(victim), str(victim), "--method", toy.name, "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["method"] == toy.name and doc["score"] == pytest.approx(1.0)
    everything = runner.invoke(app, ["compare", str(victim), str(victim), "--method", "all", "--json"])
    assert toy.name in {r["method"] for r in json.loads(everything.stdout)["results"]}


def test_evaluate_sees_the_new_method(toy, victim: Path, unrelated_llama: Path, tmp_path: Path) -> None:
    from llm_lineage.evaluation import evaluate

    ev = evaluate(victim, "permute", tmp_path, unrelated=[unrelated_llama], methods=[toy.name], progress=False)
    assert {p.method for p in ev.pairs} == {toy.name}
    assert ev.pair(toy.name, "permute").score == pytest.approx(1.0)


def test_registry_add_and_search_see_the_new_method(toy, victim: Path, unrelated_llama: Path, tmp_path: Path) -> None:
    registry = tmp_path / "reg.db"
    for model, name in ((victim, "owner"), (unrelated_llama, "other")):
        out = runner.invoke(app, ["registry", "add", str(model), "--name", name, "--registry", str(registry),
                                  "--methods", toy.name])
        assert out.exit_code == 0, out.output
    found = runner.invoke(app, ["search", str(victim), "--registry", str(registry), "--json"])
    assert found.exit_code == 0, found.output
    best = json.loads(found.stdout)["candidates"][0]
    assert best["name"] == "owner" and best["scores"][toy.name] == pytest.approx(1.0)
