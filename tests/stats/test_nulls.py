"""Reference models for null distributions, and the null-score cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_lineage.stats import nulls
from llm_lineage.weights import open_checkpoint


def test_reference_models_exclude_owner_suspect_and_their_families(shared_models: Path, monkeypatch) -> None:
    monkeypatch.setenv("LLM_LINEAGE_SHARED_MODELS", str(shared_models))
    owner = open_checkpoint(shared_models / "hf" / "stories260k")
    models = nulls.reference_models(owner, n_zoo=0, exclude=[shared_models / "hf" / "llama2xs"])
    names = [m.name for m in models]
    assert "stories260k" not in names and "stories260k-q80" not in names  # the owner's family
    assert "llama2xs" not in names  # the suspect
    assert {"aidreams260k", "babyllama-tok105", "babyllama-tok361"} <= set(names)


def test_zoo_nulls_take_the_owner_shape(shared_models: Path, monkeypatch) -> None:
    owner = open_checkpoint(shared_models / "hf" / "stories260k")
    arch, overrides = nulls.zoo_overrides(owner.config)
    assert arch == "llama"
    assert overrides["num_hidden_layers"] == 5 and overrides["intermediate_size"] == 172
    assert overrides["head_dim"] == 8 and overrides["tie_word_embeddings"] is True


def test_zoo_owner_reuses_the_zoo_cache(victim: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLM_LINEAGE_SHARED_MODELS", str(tmp_path))  # no shared models here
    owner = open_checkpoint(victim)
    assert nulls.zoo_overrides(owner.config) == ("llama", {})
    extra = tmp_path / "extra.safetensors"
    extra.write_bytes(b"")
    models = nulls.reference_models(owner, n_zoo=2, extra=[extra], exclude=[victim])
    assert len(models) == 3 and models[-1] == extra
    assert all(m.name.startswith("llama-s10") for m in models[:2])
    assert victim not in models


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

    summary = nulls.summarize(calibrate([1.0, 2.0, 3.0], source="x"), ["m1", "m2", "m3"])
    assert summary.n == 3 and summary.mean == pytest.approx(2.0) and summary.max == 3.0
    assert summary.models == ("m1", "m2", "m3") and summary.source == "x"
