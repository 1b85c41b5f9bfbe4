"""What a suspect's model card claims, judged against the evidence (``claims.py``), and
through ``check`` on a real derived model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_lineage.claims import assess, card_block, declared
from llm_lineage.stats import Verdict

CLI = str(Path(sys.executable).with_name("llm-lineage"))


def folder(tmp_path: Path, name: str, card: str | None = None, config: dict | None = None) -> Path:
    out = tmp_path / name
    out.mkdir()
    if card is not None:
        (out / "README.md").write_text(card)
    (out / "config.json").write_text(json.dumps(config or {"model_type": "llama"}))
    return out


def card(front_matter: str) -> str:
    return f"---\n{front_matter}\n---\n# a model\n"


@pytest.mark.parametrize(("front_matter", "verdict", "status"), [
    ("base_model: Org/Owner-1B\nbase_model_relation: finetune", Verdict.DERIVED, "consistent"),
    ("base_model:\n- other/Base\n- org/owner-1b", Verdict.DERIVED, "consistent"),
    ("base_model: meta-llama/Llama-3.2-1B", Verdict.DERIVED, "inconsistent"),
    ("license: mit", Verdict.DERIVED, "unclaimed"),           # says nothing of a base: from scratch, or silent
    ("base_model: org/owner-1b", Verdict.UNRELATED, "inconsistent"),
    ("base_model: meta-llama/Llama-3.2-1B", Verdict.UNRELATED, "consistent"),
    ("base_model: org/owner-1b", Verdict.INCONCLUSIVE, "not judged"),
    ("base_model: [unclosed", Verdict.DERIVED, "unclaimed"),  # front matter that is not YAML declares nothing
])
def test_a_card_is_judged_against_the_verdict(tmp_path, front_matter, verdict, status):
    owner = folder(tmp_path, "owner-1b")
    suspect = folder(tmp_path, "suspect", card(front_matter))
    claim = assess(owner, suspect, verdict)
    assert claim.status == status, claim


def test_the_owner_is_known_by_its_id_its_folder_or_its_config_name(tmp_path):
    owner = folder(tmp_path, "checkpoint-final", config={"model_type": "llama", "_name_or_path": "Org/Owner-1B"})
    suspect = folder(tmp_path, "suspect", card("base_model: org/owner-1b"))
    assert assess(owner, suspect, Verdict.DERIVED).status == "consistent"
    renamed = folder(tmp_path, "renamed")
    assert assess(renamed, suspect, Verdict.DERIVED).status == "inconsistent"
    assert assess(renamed, suspect, Verdict.DERIVED, owner_id="Org/Owner-1B").status == "consistent"


def test_no_card_is_unclaimed_and_a_config_base_model_counts(tmp_path):
    owner = folder(tmp_path, "owner-1b")
    assert assess(owner, folder(tmp_path, "bare"), Verdict.DERIVED).status == "unclaimed"
    configured = folder(tmp_path, "configured", config={"base_model": "org/owner-1b"})
    assert declared(configured) == (("org/owner-1b",), None, None, "config.json")
    assert assess(owner, configured, Verdict.DERIVED).status == "consistent"


def test_the_card_block_states_what_the_evidence_supports(tmp_path):
    assert card_block("owner", Verdict.DERIVED, "exact copy at GGUF Q8_0", owner_id="org/owner") == \
        "base_model: org/owner\nbase_model_relation: quantized\n"
    assert card_block("owner", Verdict.DERIVED, owner_id="org/owner").endswith("base_model_relation: finetune\n")
    assert card_block("owner", Verdict.UNRELATED).startswith("# the evidence supports no base_model")


@pytest.mark.slow
def test_check_reports_the_claim_of_a_derived_model(victim, tmp_path):
    from llm_lineage.attacks import derive

    suspect = derive(victim, "quantize", tmp_path / "quantized", bits=8)
    for front_matter, status in ((f"base_model: someone/{victim.name}", "consistent"),
                                 ("base_model: meta-llama/Llama-3.2-1B", "inconsistent")):
        (suspect / "README.md").write_text(card(front_matter))
        done = subprocess.run([CLI, "check", str(victim), str(suspect), "--json"], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout)
        assert result["verdict"] == "derived" and result["claim"]["status"] == status, result["claim"]
        assert result["claim"]["card"].startswith(f"base_model: {victim.name}\n")
    (suspect / "README.md").unlink()
    shown = subprocess.run([CLI, "check", str(victim), str(suspect), "--card"], capture_output=True, text=True,
                           timeout=600)
    assert "model card: UNCLAIMED" in shown.stdout and f"base_model: {victim.name}" in shown.stdout
