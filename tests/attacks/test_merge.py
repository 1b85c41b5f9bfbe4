"""Merge attacks: the arithmetic against mergekit's documented behaviour on small tensors, and
merges of real zoo models through ``attack`` and ``check``."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_lineage.attacks.merge import slerp, ties
from llm_lineage.errors import InputError


def test_slerp_ends_at_its_parents_and_follows_the_arc():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(slerp(0.0, a, b), a)
    torch.testing.assert_close(slerp(1.0, a, b), b)
    torch.testing.assert_close(slerp(0.5, a, b), torch.tensor([1.0, 1.0]) / math.sqrt(2))  # on the arc, not the chord
    # colinear parents (|cos| > 0.9995): mergekit falls back to linear interpolation
    torch.testing.assert_close(slerp(0.25, a, 3 * a), 1.5 * a)


@settings(max_examples=50, deadline=None)
@given(t=st.floats(0, 1), angle=st.floats(0.1, 3.0))
def test_slerp_of_unit_vectors_stays_on_the_unit_circle_at_angle_t_theta(t, angle):
    a, b = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([math.cos(angle), math.sin(angle)],
                                                                         dtype=torch.float64)
    out = slerp(t, a, b)
    assert abs(float(out.norm()) - 1.0) < 1e-9
    assert abs(math.atan2(float(out[1]), float(out[0])) - t * angle) < 1e-9


def test_ties_elects_a_sign_by_weighted_sum_and_averages_the_agreeing_entries():
    base = torch.zeros(3)
    merged = ties(base, [torch.tensor([1.0, -2.0, 3.0]), torch.tensor([-1.0, -1.0, 1.0])], [1.0, 1.0], 1.0)
    # sums 0, -3, 4 elect +, -, + (a tie goes to +); entry 0 keeps only the first parent's +1
    torch.testing.assert_close(merged, torch.tensor([1.0, -1.5, 2.0]))


def test_ties_trims_each_task_vector_to_its_largest_magnitudes():
    merged = ties(torch.ones(4), [torch.tensor([1.1, -4.0, 3.0, 1.3])], [1.0], 0.5)
    torch.testing.assert_close(merged, torch.tensor([1.0, -4.0, 3.0, 1.0]))


def test_dare_keeps_a_density_share_rescaled_so_the_task_vector_is_kept_on_average():
    tau = torch.ones(100_000)
    merged = ties(torch.zeros_like(tau), [tau], [1.0], 0.3, random_drop=torch.Generator().manual_seed(0))
    kept = merged != 0
    assert abs(float(kept.float().mean()) - 0.3) < 0.01
    torch.testing.assert_close(merged[kept], torch.full((int(kept.sum()),), 1 / 0.3))


@pytest.mark.slow
def test_merges_of_two_fine_tunes_are_derived_from_the_victim(victim, tmp_path):
    from llm_lineage.attacks import derive
    from llm_lineage.check import check
    from llm_lineage.stats import Verdict

    first = derive(victim, "finetune", tmp_path / "ft1", steps=20, seed=1)
    second = derive(victim, "finetune", tmp_path / "ft2", steps=20, seed=2)
    for kind, options in (("merge-linear", {"weights": "0.7,0.3"}), ("merge-slerp", {"t": 0.4}),
                          ("merge-ties", {"base": str(victim)}), ("merge-dare", {"base": str(victim)})):
        merged = derive(first, kind, tmp_path / kind, others=str(second), **options)
        result = check(victim, merged, methods=["tracing", "awm"])
        assert result.verdict is Verdict.DERIVED, (kind, result.conclusion)


@pytest.mark.slow
def test_passthrough_takes_the_blocks_from_each_parent_as_asked(victim, unrelated_llama, tmp_path):
    from llm_lineage.attacks import derive
    from llm_lineage.weights import open_checkpoint

    merged = open_checkpoint(derive(victim, "merge-passthrough", tmp_path / "pass", others=str(unrelated_llama),
                                    split=1))
    mine, theirs = open_checkpoint(victim), open_checkpoint(unrelated_llama)
    for layer, source in ((0, mine), (1, theirs)):
        assert (merged.tensor("q_proj", layer) == source.tensor("q_proj", layer)).all()
    assert (merged.tensor("embed_tokens") == mine.tensor("embed_tokens")).all()


def test_a_merge_without_a_second_parent_or_of_another_shape_is_refused(victim, unrelated_qwen2, tmp_path):
    from llm_lineage.attacks import derive

    with pytest.raises(InputError, match="others=PATH"):
        derive(victim, "merge-linear", tmp_path / "none")
    with pytest.raises(InputError, match="cannot be merged"):
        derive(victim, "merge-linear", tmp_path / "shapes", others=str(unrelated_qwen2))
