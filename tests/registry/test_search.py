"""One-to-many search over a registry of zoo owners and unrelated models (the issue's 'done when')."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llm_lineage import Verdict
from llm_lineage.registry import Registry, search
from llm_lineage.registry.search import shortlist
from llm_lineage.registry.summary import embedding_rows
from llm_lineage.weights import open_checkpoint

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("owner", ["llama-owner", "qwen2-owner", "gpt2-owner"])
def test_derived_model_ranks_its_owner_first_with_a_derived_verdict(zoo_registry, derived, owner):
    result = search(derived[owner], zoo_registry, top=3)
    best = result.candidates[0]
    assert best.name == owner
    assert best.verdict == Verdict.DERIVED
    assert result.verdict == Verdict.DERIVED and owner in result.explanation
    assert all(c.verdict != Verdict.DERIVED for c in result.candidates[1:])
    # every method's score is reported, and the ones that could not run say why
    assert set(best.scores) == set(best.methods)
    for method in best.cannot_apply:
        assert best.methods[method].note
    assert "summary" in best.agree


def test_unrelated_model_gets_no_derived_verdict(zoo_registry, stranger):
    result = search(stranger, zoo_registry, top=5)
    assert result.verdict != Verdict.DERIVED
    assert all(c.verdict != Verdict.DERIVED for c in result.candidates)
    assert len(result.candidates) == len(zoo_registry)


def test_registered_model_finds_itself_and_is_excluded_from_nobody_elses_null(zoo_registry, owners):
    result = search(owners["qwen2-owner"], zoo_registry, top=2)
    assert result.candidates[0].name == "qwen2-owner"
    assert result.candidates[0].summary_score == pytest.approx(1.0, abs=1e-5)
    assert result.candidates[0].verdict == Verdict.DERIVED


def test_shortlist_orders_by_summary_and_compares_only_the_shortlist(zoo_registry, derived):
    rows, _ = embedding_rows(open_checkpoint(derived["gpt2-owner"]))
    short = shortlist(zoo_registry, rows, size=2)
    assert len(short.chosen) == 2 and short.names[short.chosen[0]] == "gpt2-owner"
    ordered = short.scores[short.chosen]
    assert ordered[0] >= ordered[1]
    result = search(derived["gpt2-owner"], zoo_registry, top=1, shortlist_size=2)
    assert result.n_shortlisted == 2 and len(result.candidates) == 1
    assert result.n_registered == len(zoo_registry)


def test_methods_that_cannot_apply_are_explained_not_counted(registry_at, owners, unrelated, derived,
                                                             fake_methods_installed):
    with Registry(registry_at, create=True) as reg:
        for name, path in {**owners, **unrelated}.items():
            reg.add(path, name=name, methods=["test-gram", "test-needs-bias"])
        assert "no lm_head bias" in reg.get("llama-owner").fingerprints["test-needs-bias"].note
        result = search(derived["llama-owner"], reg, top=2, methods=["test-gram", "test-needs-bias"])
    best = result.candidates[0]
    assert best.name == "llama-owner" and best.verdict == Verdict.DERIVED
    assert best.cannot_apply == ("test-needs-bias",)
    assert "owner:" in best.methods["test-needs-bias"].note and "cannot apply" in best.explanation
    assert set(best.agree) == {"summary", "test-gram"}
    assert math.isnan(best.scores["test-needs-bias"])
    # the registry null of each method holds the other registered models
    assert best.methods["test-gram"].registry_null_n == len(reg_names := list({**owners, **unrelated})) - 1
    assert best.p_value <= 2 * min(best.methods[m].p_value for m in best.agree)
    assert reg_names


def test_a_registry_too_small_for_a_null_says_so(registry_at, owners, derived):
    with Registry(registry_at, create=True) as reg:
        reg.add(owners["llama-owner"], name="only", methods=[])
        result = search(derived["llama-owner"], reg)
    evidence = result.candidates[0].methods["summary"]
    assert result.candidates[0].name == "only" and evidence.registry_null_n == 0
    assert math.isnan(evidence.registry_p_value) and "registry too small" in evidence.note


def test_suspect_outside_the_owners_vocabulary_cannot_be_summarised(zoo_registry):
    rows = np.random.default_rng(0).normal(size=(32, 64))  # a vocabulary of 32 tokens
    short = shortlist(zoo_registry, rows, size=3)
    assert np.isnan(short.scores).all()
