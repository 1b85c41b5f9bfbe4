"""``check``: one verdict from every method that applies, with no reference model passed; real pairs,
zoo attacks, the exit status, JSON, the report in a real browser, and endpoints over HTTP."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm_lineage import zoo
from llm_lineage.attacks import derive
from llm_lineage.check import check
from llm_lineage.stats import Verdict

CLI = str(Path(sys.executable).with_name("llm-lineage"))
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.fixture(autouse=True)
def _no_references(monkeypatch):
    monkeypatch.delenv("LLM_LINEAGE_REFERENCES", raising=False)


def test_the_real_int8_copy_is_derived_and_says_how(shared_models):
    hf = shared_models / "hf"
    result = check(hf / "stories260k", hf / "stories260k-q80")
    assert result.verdict is Verdict.DERIVED and result.p_value < 1e-100
    assert "8-bit quantised copy" in result.conclusion and "p = " in result.conclusion
    deciding = {t.method for t in result.tests if t.deciding}
    assert deciding == {"tracing", "awm"}
    # reference-calibrated methods are supporting evidence with a raw score, never a p-value of nan
    for t in result.tests:
        if not t.deciding:
            assert t.verdict is None and t.needs.startswith("no verdict: needs 3 reference models")


@pytest.mark.parametrize(("owner", "suspect"), [("stories260k", "llama2xs"), ("stories260k", "aidreams260k"),
                                                ("babyllama-tok105", "babyllama-tok361")])
def test_independent_real_pairs_are_not_derived(shared_models, owner, suspect):
    result = check(shared_models / "hf" / owner, shared_models / "hf" / suspect)
    assert result.verdict is not Verdict.DERIVED, result.conclusion


ATTACKS = {"finetune": ("finetune", dict(steps=50, seed=1)), "lora": ("lora-qkv", dict(rank=8, steps=30, seed=2)),
           "quantize": ("quantize", dict(bits=4)), "prune": ("prune", dict(sparsity=0.3)),
           "permute": ("permute", dict(seed=3)), "rotate": ("rotate", dict(seed=4))}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_zoo_children_are_derived(victim, attack):
    kind, options = ATTACKS[attack]
    child = derive(victim, kind, zoo.cache_dir().parent / "check-tests" / attack, **options)
    result = check(victim, child)
    assert result.verdict is Verdict.DERIVED, result.conclusion
    if attack == "rotate":
        assert "rotated" in result.conclusion


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "check", *args], capture_output=True, text=True, timeout=600)


def test_fail_on_gates_a_script_both_ways_and_json_is_one_object(shared_models):
    hf = shared_models / "hf"
    derived = _cli(str(hf / "stories260k"), str(hf / "stories260k-q80"), "--fail-on", "derived", "--json")
    assert derived.returncode == 1
    answer = json.loads(derived.stdout)
    assert answer["verdict"] == "derived" and {"p_value", "neg_log10_p", "conclusion", "tests", "provenance"} <= set(answer)
    assert _cli(str(hf / "stories260k"), str(hf / "stories260k-q80"), "--fail-on", "unrelated").returncode == 0
    assert _cli(str(hf / "stories260k"), str(hf / "stories260k-q80"), "--fail-on", "maybe").returncode == 2


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")
def test_report_opens_in_chromium_with_the_conclusion_and_every_figure(shared_models, tmp_path):
    hf = shared_models / "hf"
    done = _cli(str(hf / "stories260k"), str(hf / "stories260k-q80"), "--report", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    page = tmp_path / "report" / "report.html"
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True,
                         timeout=90).stdout
    assert saved["conclusion"][:60] in dom.replace("&amp;", "&")
    # tracing, awm, HuRef images, std-profile: every figure embedded and offline
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom)) == 4
    assert "sha256" in dom and saved["provenance"]["command"].startswith("llm-lineage check")
    assert "http" not in page.read_text().split("<body>")[1].split("llm-lineage check")[0]  # nothing fetched


@pytest.mark.slow
def test_over_http_check_picks_subspace_or_text_and_says_why(victim, tmp_path, monkeypatch, reference_folder):
    from tests.e2e.test_cli_http import served

    with served(victim) as url:
        done = _cli(str(victim), url, "--api-model", "m", "--cache", str(tmp_path / "a.sqlite"), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    assert answer["verdict"] == "derived" and "log-probs" in answer["how"]
    assert [t["method"] for t in answer["tests"]] == ["subspace"]
    monkeypatch.setenv("LLM_LINEAGE_REFERENCES", str(reference_folder))  # the text method's null
    with served(victim, "--no-logprobs") as url:
        done = _cli(str(victim), url, "--api-model", "m", "--cache", str(tmp_path / "b.sqlite"), "--prompts", "20",
                    "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    assert [t["method"] for t in answer["tests"]] == ["text"] and "no usable log-probs" in answer["how"]
