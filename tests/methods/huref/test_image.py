"""The human-readable fingerprint: deterministic, and alike exactly when the terms are alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llm_lineage.methods.huref import HurefConfig, fingerprint_image, image_similarity, save_image
from llm_lineage.methods.huref.core import pair_fingerprints
from llm_lineage.methods.huref.image import features, render
from llm_lineage.stats import calibrate


def _similarity(owner: Path, suspect: Path) -> float:
    a, b, _ = pair_fingerprints(owner, suspect, HurefConfig())
    return image_similarity(fingerprint_image(a), fingerprint_image(b))


def test_image_is_deterministic_rgb(victim: Path, tmp_path: Path) -> None:
    a, _, _ = pair_fingerprints(victim, victim, HurefConfig())
    img = fingerprint_image(a)
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    assert img.std() > 10  # not a flat picture
    np.testing.assert_array_equal(img, fingerprint_image(a))
    assert image_similarity(img, img) == pytest.approx(1.0, abs=1e-12)  # corrcoef rounds
    path = save_image(a, tmp_path / "fp.png")
    assert path.stat().st_size > 1000


def test_similar_features_give_similar_images() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal(64)
    near = base + 0.1 * rng.standard_normal(64)
    far = rng.standard_normal(64)
    assert image_similarity(render(base), render(near)) > 0.9
    assert abs(image_similarity(render(base), render(far))) < 0.5


def test_owner_and_finetuned_look_alike_unrelated_do_not(victim: Path, finetuned: Path, lora_merged: Path,
                                                         unrelated_llama: Path, unrelated_qwen2: Path) -> None:
    from llm_lineage import zoo

    # null: image similarity of the owner with the unrelated reference models
    null_models = zoo.null_models("llama")
    null = calibrate([_similarity(victim, m) for m in null_models])
    for suspect in (finetuned, lora_merged):
        s = _similarity(victim, suspect)
        assert s > 0.5 and null.p_value(s) < 0.01, (suspect.name, s, null.scores)
    for suspect in (unrelated_llama, unrelated_qwen2):
        s = _similarity(victim, suspect)
        assert s < 0.3 and null.p_value(s) > 0.05, (suspect.name, s, null.scores)


def test_features_track_the_invariant_terms(victim: Path, finetuned: Path, unrelated_llama: Path) -> None:
    a, b, _ = pair_fingerprints(victim, finetuned, HurefConfig())
    c, d, _ = pair_fingerprints(victim, unrelated_llama, HurefConfig())
    assert np.corrcoef(features(a), features(b))[0, 1] > 0.5
    assert abs(np.corrcoef(features(c), features(d))[0, 1]) < 0.3
