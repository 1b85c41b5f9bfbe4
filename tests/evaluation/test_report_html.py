"""report.html opened in headless Chromium: screenshotted, tables and embedded images rendered."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from llm_lineage.evaluation import write_report
from llm_lineage.evaluation.harness import Evaluation, PairResult, Suspect, summarise

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")


def _evaluation(tmp_path: Path) -> Evaluation:
    """A small evaluation with every verdict kind; scores drawn so that the method separates imperfectly."""
    rng = np.random.default_rng(1)
    suspects = [Suspect(f"attack-{i}", tmp_path / f"m{i}", "derived", f"attack-{i}") for i in range(5)]
    suspects += [Suspect(f"control-{i}", tmp_path / f"u{i}", "unrelated", "") for i in range(3)]
    pairs = []
    for method, hir in (("invariant", True), ("subspace[topk]", False)):
        for s in suspects:
            related = s.truth == "derived"
            score = float(rng.normal(0.9 if related else 0.2, 0.2))
            score = score if hir else 1 - score
            verdict = "n/a" if s.name == "attack-4" and not hir else \
                ("derived" if related and rng.random() > 0.3 else "inconclusive" if related else "unrelated")
            pairs.append(PairResult(method, s.name, s.attack, s.truth, float("nan") if verdict == "n/a" else score,
                                    0.01, verdict, hir, None if hir else 120, 0.1,
                                    note="UnsupportedFormat: MoE" if verdict == "n/a" else ""))
    summaries = [summarise(m, k, [p for p in pairs if p.method == m])
                 for m, k in (("invariant", "white-box"), ("subspace[topk]", "black-box"))]
    return Evaluation("evaluation", tmp_path / "victim", suspects, pairs, summaries, 1.0)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'chrome-profile'}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=90)


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_report_renders_tables_and_images_in_chromium(tmp_path):
    files = write_report(_evaluation(tmp_path), tmp_path / "report")
    url = files.html.resolve().as_uri()

    dom = _chromium(tmp_path, "--dump-dom", url).stdout
    assert len(re.findall(r"<table", dom)) == 4  # summary, robustness matrix, suspects, n/a notes
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom)) == 3
    assert "subspace[topk]" in dom and "attack-4" in dom and "UnsupportedFormat: MoE" in dom

    shot = tmp_path / "page.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,2600", url)
    page = _pixels(shot)
    non_white = np.mean(np.any(page < 235, axis=-1))
    assert page.shape[:2] == (2600, 1400) and 0.03 < non_white < 0.9
    green = np.all(np.abs(page - np.array([0x2E, 0x7D, 0x32])) < 25, axis=-1)  # the "derived" colour
    assert green.sum() > 200

    # the embedded PNGs decode: a page of only the images is not blank either
    imgs = "".join(re.findall(r"<img [^>]*>", files.html.read_text()))
    only = tmp_path / "images.html"
    only.write_text(f"<!DOCTYPE html><html><body style='margin:0;background:white'>{imgs}</body></html>")
    shot2 = tmp_path / "images.png"
    _chromium(tmp_path, f"--screenshot={shot2}", "--window-size=1200,2400", only.resolve().as_uri())
    images = _pixels(shot2)
    assert np.mean(np.any(images < 235, axis=-1)) > 0.02
