"""The harness over METHODS: attack specs, access-mode variants, n/a pairs, the results cache, metrics."""

from __future__ import annotations

import json

import pytest

from llm_lineage.errors import InputError
from llm_lineage.evaluation import AttackSpec, evaluate, method_variants, parse_attacks, write_report


def test_attack_specs_parse_options_and_presets():
    specs = parse_attacks("finetune:steps=50:lr=0.001, quantize:bits=4,permute:vocab=true,reparam")
    assert specs[0] == AttackSpec("finetune", {"steps": 50, "lr": 0.001})
    assert specs[2].options == {"vocab": True} and specs[2].label == "permute:vocab=true"
    assert [s.kind for s in specs[3:]] == ["rotate", "permute", "scale"]
    assert parse_attacks("unrelated:seed=3")[0].truth == "unrelated"
    with pytest.raises(InputError, match="key=value"):
        parse_attacks("finetune:steps")
    with pytest.raises(InputError, match="no attacks"):
        parse_attacks(" , ")


def test_black_box_methods_get_one_variant_per_access_mode(head_cosine):
    names = [v.name for v in method_variants(["head-cosine"])]
    assert names == ["head-cosine[weights]", "head-cosine[rows]"]
    with pytest.raises(InputError, match="unknown method"):
        method_variants(["no-such-method"])


def test_evaluation_scores_caches_and_summarises(head_cosine, victim, unrelated_llama, tmp_path):
    spec = "rotate,quantize:bits=8,upcycle-moe,unrelated:seed=11:steps=40"
    ev = evaluate(victim, spec, tmp_path, unrelated=[unrelated_llama], methods=["head-cosine"], progress=False)
    assert [s.truth for s in ev.suspects] == ["derived", "derived", "derived", "unrelated", "unrelated"]
    assert len(ev.pairs) == 2 * 5 and len(head_cosine) == 2 * 5
    quant = ev.pair("head-cosine[rows]", "quantize:bits=8")
    assert quant.verdict == "derived" and quant.n_queries == 7 and not quant.higher_is_related  # head untouched
    moe = ev.pair("head-cosine[weights]", "upcycle-moe")
    assert moe.verdict == "n/a" and "refuses MoE" in moe.note
    for name in ("unrelated:seed=11:steps=40", unrelated_llama.name):
        assert ev.pair("head-cosine[weights]", name).verdict != "derived"
    summary = ev.summary("head-cosine[weights]")
    # rotate changes lm_head by a rotation, so this naive method misses it: AUC below 1 but above chance
    assert summary.n_derived == 2 and summary.n_unrelated == 2 and summary.n_not_applicable == 1
    assert 0.5 <= summary.auc <= 1.0 and summary.false_derived == 0
    assert summary.mean_queries == 0 and ev.summary("head-cosine[rows]").mean_queries == 7

    head_cosine.clear()
    again = evaluate(victim, spec, tmp_path, unrelated=[unrelated_llama], methods=["head-cosine"], progress=False)
    assert head_cosine == [] and all(p.cached for p in again.pairs)  # every pair came from the cache
    assert [(p.score, p.verdict) for p in again.pairs if p.verdict != "n/a"] == \
           [(p.score, p.verdict) for p in ev.pairs if p.verdict != "n/a"]

    files = write_report(ev, tmp_path)
    doc = json.loads(files.json.read_text())
    assert {s["method"] for s in doc["summaries"]} == {"head-cosine[weights]", "head-cosine[rows]"}
    assert doc["pairs"][0]["details"]["method"] == "head-cosine"
    page = files.html.read_text()
    assert page.count("<table") == 4 and page.count("data:image/png;base64,") == 3


def test_bad_victim_and_no_methods_are_input_errors(tmp_path, victim, monkeypatch):
    with pytest.raises(InputError, match="config.json"):
        evaluate(tmp_path, "rotate", tmp_path / "out", progress=False)
    from llm_lineage.methods import METHODS

    for name in list(METHODS):
        monkeypatch.delitem(METHODS, name)
    with pytest.raises(InputError, match="no fingerprint methods"):
        evaluate(victim, "rotate", tmp_path / "out", progress=False)
