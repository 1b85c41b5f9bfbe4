"""Reference models for null distributions (``references``), and the null-score cache (``stats.nulls``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_lineage import references
from llm_lineage.stats import nulls


def test_reference_models_exclude_owner_suspect_and_their_families(shared_models: Path) -> None:
    hf = shared_models / "hf"
    models = references.reference_models(exclude=[hf / "stories260k", hf / "llama2xs"], folder=shared_models)
    names = [m.name for m in models]
    assert "stories260k" not in names and "stories260k-q80" not in names  # the owner's family
    assert "llama2xs" not in names  # the suspect
    assert {"aidreams260k", "babyllama-tok105", "babyllama-tok361"} <= set(names)


def test_one_model_per_family_and_extra_models_first(shared_models: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.safetensors"
    extra.write_bytes(b"")
    models = references.reference_models(extra=[extra, extra], exclude=[tmp_path / "owner"], folder=shared_models)
    names = [m.name for m in models]
    assert models[0] == extra and names.count("extra.safetensors") == 1
    assert ("stories260k" in names) != ("stories260k-q80" in names)  # copies are one draw from the null


def test_the_folder_comes_from_the_environment(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "m1").mkdir()
    (tmp_path / "m1" / "config.json").write_text("{}")
    (tmp_path / "not-a-model").mkdir()
    monkeypatch.setenv(references.ENV, str(tmp_path))
    assert references.reference_models() == [tmp_path / "m1"]
    monkeypatch.delenv(references.ENV)
    assert references.reference_models() == []
    assert "--null" in references.how_to_fix(0, 0.01)


def test_null_scores_are_cached_per_owner_and_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LLM_LINEAGE_CACHE", str(tmp_path / "cache"))
    models = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(name.encode())
        models.append(tmp_path / name)
    calls: list[Path] = []

    def score(path: Path) -> float:
        calls.append(path)
        return float("nan") if path.name == "b" else 0.25

    first = nulls.cached_null_scores("m", "owner1", models, score)
    again = nulls.cached_null_scores("m", "owner1", models, score)
    assert first[0] == again[0] == 0.25 and len(calls) == 2
    assert again[1] != again[1]  # NaN survives the JSON round trip
    nulls.cached_null_scores("m", "owner2", models, score)
    assert len(calls) == 4  # another owner: computed afresh
    (models[0] / "model.safetensors").write_bytes(b"changed weights")
    nulls.cached_null_scores("m", "owner1", models, score)
    assert len(calls) == 5  # changed weights: that model only
    cache_file = next((tmp_path / "cache" / "nulls").glob("m-owner1*.json"))
    cache_file.write_text("{not json")
    assert nulls.cached_null_scores("m", "owner1", models, score)[0] == 0.25  # damaged cache: recomputed
    json.loads(cache_file.read_text())


def test_summary_reports_the_null() -> None:
    from llm_lineage.stats import calibrate

    summary = nulls.summarize(calibrate([1.0, 2.0, 3.0], source="x", models=["m1", "m2", "m3"]))
    assert summary.n == 3 and summary.mean == pytest.approx(2.0) and summary.max == 3.0
    assert summary.models == ("m1", "m2", "m3") and summary.source == "x"
