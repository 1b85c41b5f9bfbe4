"""``registry add-many``: many models on a local Ray cluster of 2 workers, on both backends; a broken
model is reported and the others land; a rerun skips what is registered."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_lineage.registry import Registry, search
from llm_lineage.registry.many import add_many, models_in

CLI = str(Path(sys.executable).with_name("llm-lineage"))


@pytest.fixture
def folder(tmp_path, victim, unrelated_llama) -> Path:
    """Two good models (links) and one whose weights are garbage."""
    root = tmp_path / "models"
    root.mkdir()
    (root / "victim").symlink_to(victim, target_is_directory=True)
    (root / "other").symlink_to(unrelated_llama, target_is_directory=True)
    broken = root / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((victim / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    return root


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='Ray is not installed: pip install "llm-lineage[scale]"')
def test_two_ray_workers_register_the_good_models_and_report_the_broken_one(registry_at, folder):
    with Registry(registry_at, create=True) as reg:
        report = add_many(reg, models_in(folder), methods=["pcs"], workers=2)
        assert report.ray and sorted(report.added) == ["other", "victim"]
        assert list(report.failed) == [str(folder / "broken")]
        assert "model.safetensors" in report.failed[str(folder / "broken")]  # the reader's one line
        assert sorted(reg.names()) == ["other", "victim"] and reg.check() == []
        again = add_many(reg, models_in(folder), methods=["pcs"], workers=2)
        assert again.added == [] and len(again.skipped) == 2
        # the shortlist and full comparisons run on either backend alike
        best = search(folder / "victim", reg, top=2, methods=["pcs"]).candidates[0]
        assert best.name == "victim"


def test_cli_in_process_with_a_list_file(tmp_path, victim, unrelated_llama):
    listing = tmp_path / "models.txt"
    listing.write_text(f"# two models\n{victim}\n{unrelated_llama}\n")
    registry = tmp_path / "r.sqlite"
    done = subprocess.run([CLI, "registry", "add-many", str(listing), "--registry", str(registry), "--methods", "pcs",
                           "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert len(report["added"]) == 2 and not report["failed"] and not report["ray"]
