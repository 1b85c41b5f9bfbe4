"""Distillation: a fresh student trained on the victim's outputs, and how the evaluation scores it
(behaviour copied, weights not: a column of its own)."""

from __future__ import annotations

import pytest
import torch

from llm_lineage.evaluation.harness import AttackSpec, PairResult, parse_attacks, summarise
from llm_lineage.stats import Verdict


@pytest.mark.slow
def test_a_distilled_student_shares_no_weights_and_no_white_box_method_calls_it_derived(victim, tmp_path):
    from llm_lineage.attacks import derive
    from llm_lineage.check import check
    from llm_lineage.weights import open_checkpoint

    student = derive(victim, "distill", tmp_path / "student", samples=48, max_new_tokens=16, steps=40)
    theirs, mine = open_checkpoint(student).tensor("q_proj", 0), open_checkpoint(victim).tensor("q_proj", 0)
    assert theirs.shape == mine.shape and not (theirs == mine).any()
    result = check(victim, student)
    assert result.verdict is not Verdict.DERIVED
    assert all(t.verdict is not Verdict.DERIVED for t in result.tests), [(t.method, t.verdict) for t in result.tests]


def test_the_top_k_loss_prefers_the_teacher_to_an_unrelated_student(victim, unrelated_llama):
    from llm_lineage import zoo
    from llm_lineage.attacks.distill import _top_k_loss

    teacher, other = zoo.load(victim), zoo.load(unrelated_llama)
    batch = torch.randint(0, 512, (4, 32), generator=torch.Generator().manual_seed(0))
    loss = _top_k_loss(teacher, 5)
    with torch.no_grad():
        assert float(loss(teacher, batch)) < float(loss(other, batch))


def _pair(truth: str, verdict: str, score: float) -> PairResult:
    return PairResult("m", f"{truth}-{score}", "", truth, score, 0.5, verdict, True, None, 0.0)


def test_distilled_students_are_scored_apart_from_derived_and_unrelated_pairs():
    assert AttackSpec("distill").truth == "distilled" and AttackSpec("finetune").truth == "derived"
    assert [a.label for a in parse_attacks("distillation")] == ["distill", "distill:top_k=5"]
    pairs = [_pair("derived", "derived", 0.9), _pair("unrelated", "unrelated", 0.1),
             _pair("distilled", "derived", 0.05), _pair("distilled", "unrelated", 0.02)]
    summary = summarise("m", "weights", pairs)
    # a distilled student scoring like an unrelated model leaves the ROC of derived vs unrelated alone
    assert summary.auc == 1.0 and (summary.n_derived, summary.n_unrelated) == (1, 1)
    assert (summary.distilled_derived, summary.n_distilled) == (1, 2)
