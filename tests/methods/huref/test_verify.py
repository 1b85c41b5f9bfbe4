"""Calibrated verdicts: derived zoo suspects score high, unrelated ones sit in the null."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llm_lineage.errors import InputError, KeyFileError
from llm_lineage.methods import METHODS
from llm_lineage.methods.fingerprint_io import save
from llm_lineage.methods.huref import HurefConfig, compare, fingerprint, verify
from llm_lineage.stats import Verdict


@pytest.mark.parametrize("mode", ["invariant", "huref"])
def test_derived_models_are_derived(victim: Path, finetuned: Path, lora_merged: Path, continued: Path,
                                    mode: str) -> None:
    for suspect in (finetuned, lora_merged, continued):
        result = METHODS[mode].verify(victim, suspect)
        assert result.verdict is Verdict.DERIVED, (suspect.name, result)
        assert result.score > result.threshold
        assert result.p_value < 0.01
        assert set(result.slice_correlations) == {f"L{i}.{t}" for i in (-2, -1) for t in ("attn", "vo", "ffn")}


@pytest.mark.parametrize("mode", ["invariant", "huref"])
def test_unrelated_models_are_not_derived(victim: Path, unrelated_llama: Path, unrelated_qwen2: Path,
                                          mode: str) -> None:
    for suspect in (unrelated_llama, unrelated_qwen2):
        result = METHODS[mode].verify(victim, suspect)
        assert result.verdict is Verdict.UNRELATED, (suspect.name, result)
        assert abs(result.score) < 25  # "near zero": of the order of the null's spread
        assert result.null.n >= 4


def test_copy_scores_100_and_null_excludes_the_pair(victim: Path) -> None:
    result = verify(victim, victim)
    assert result.score == pytest.approx(100.0)
    assert str(victim) not in result.null.models


def test_real_checkpoints_quantised_copy_and_hard_negative(shared_models: Path) -> None:
    stories = shared_models / "hf" / "stories260k"
    config = HurefConfig()
    derived = verify(stories, shared_models / "hf" / "stories260k-q80", config)
    # a copy scores 100, but the only independent model with stories260k's tokenizer here is
    # llama2xs: a null of one cannot give p < 0.01, so the verdict says what to add
    assert derived.score > 99 and derived.verdict is Verdict.INCONCLUSIVE and "--null" in derived.note
    # same data, same vocabulary, same shape, independent training: the hard negative
    negative = verify(stories, shared_models / "hf" / "llama2xs", config)
    assert negative.verdict is not Verdict.DERIVED
    assert negative.score < derived.score - 50
    assert all(Path(m).name not in ("stories260k-q80", "llama2xs") for m in negative.null.models)


def test_different_tokenizers_use_shared_token_strings(shared_models: Path) -> None:
    stories = shared_models / "hf" / "stories260k"
    result = verify(stories, shared_models / "hf" / "aidreams260k", HurefConfig())
    assert result.token_alignment == "strings" and result.notes
    assert 16 <= result.n_tokens <= 512
    # independent, but its few shared pieces (bytes, single characters) are used alike by any
    # model of English text: the score sits far below a copy's, inside the real-model null
    copy = verify(stories, shared_models / "hf" / "stories260k-q80", HurefConfig())
    assert result.score < copy.score - 30
    assert result.score < result.null.max + 2 * result.null.std


def test_saved_fingerprint_files_compare_like_models(victim: Path, finetuned: Path, tmp_path: Path) -> None:
    config = HurefConfig()
    owner_fp = fingerprint(victim, config)
    path = save(tmp_path / "owner", {"invariant": owner_fp})
    from_file = verify(path, finetuned)
    from_dir = verify(victim, finetuned)
    assert from_file.score == pytest.approx(from_dir.score)
    assert from_file.verdict is from_dir.verdict
    with pytest.raises(KeyFileError, match="no 'huref' fingerprint"):
        verify(path, finetuned, mode="huref")


def test_layers_option_and_mismatched_modes(victim: Path, finetuned: Path) -> None:
    result = verify(victim, finetuned, layers=(0,))
    assert set(result.slice_correlations) == {"L0.attn", "L0.vo", "L0.ffn"}
    every = verify(victim, finetuned, layers="all")
    assert len(every.slice_correlations) == 3 * 2
    with pytest.raises(InputError, match="cannot compare"):
        compare(fingerprint(victim, HurefConfig(mode="huref")), fingerprint(victim, HurefConfig()),
                null=None)


def test_fingerprint_stays_small_and_finite(victim: Path) -> None:
    fp = fingerprint(victim)
    n, hidden = fp.embedding.shape
    assert fp.terms.shape == (6, hidden, hidden)
    assert n == len(fp.tokens) == len(fp.token_ids)
    assert np.isfinite(fp.terms).all()
