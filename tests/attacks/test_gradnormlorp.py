"""GradNormLoRP: each step moves a matrix's directions within a rank-r subspace of its rows'
space (the projected gradient), keeps the row norms on their own track, and trains the model."""

from __future__ import annotations

import pytest
import torch

from llm_lineage.attacks.gradnormlorp import GradNormLoRPOptimizer


def test_a_radial_gradient_moves_only_the_norms():
    # weight normalisation: a gradient along each row's own direction changes that row's length,
    # never its direction
    # float64: Adam's normalisation would blow float32 rounding of a zero tangent up to a full step
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(32, 24, dtype=torch.float64))
    before = weight.detach().clone()
    opt = GradNormLoRPOptimizer([weight], lr=1e-2, rank=3)
    weight.grad = before * torch.linspace(-1, 1, 32, dtype=torch.float64)[:, None]
    opt.step()
    after = weight.detach()
    unit = lambda w: w / w.norm(dim=1, keepdim=True)  # noqa: E731
    assert torch.allclose(unit(after), unit(before), atol=1e-6)
    assert not torch.allclose(after.norm(dim=1), before.norm(dim=1))


def test_the_projection_is_orthonormal_of_the_rank_asked():
    torch.manual_seed(1)
    weight = torch.nn.Parameter(torch.randn(16, 12))
    opt = GradNormLoRPOptimizer([weight], lr=1e-2, rank=2)
    weight.grad = torch.randn(16, 12)
    opt.step()
    projection = opt.state[weight]["projection"]
    assert projection.shape == (16, 2)
    assert torch.allclose(projection.T @ projection, torch.eye(2), atol=1e-5)


def test_vectors_and_small_matrices_get_plain_adam():
    bias = torch.nn.Parameter(torch.zeros(8))
    opt = GradNormLoRPOptimizer([bias], lr=0.1, rank=4)
    bias.grad = torch.ones(8)
    opt.step()
    assert torch.allclose(bias.detach(), torch.full((8,), -0.1), atol=1e-6)


def test_attack_lowers_the_loss_and_stays_derived(victim, tmp_path):
    from llm_lineage import zoo
    from llm_lineage.attacks import derive
    from llm_lineage.methods import get_method
    from llm_lineage.stats import Verdict

    suspect = derive(victim, "gradnormlorp", tmp_path / "g", steps=30, lr=1e-3, rank=4)
    before = dict(zoo.load(victim).named_parameters())
    changed = [n for n, p in zoo.load(suspect).named_parameters() if not torch.equal(p, before[n])]
    assert changed and any("q_proj" in n for n in changed)
    result = get_method("tracing").verify(victim, suspect)
    assert result.verdict is Verdict.DERIVED


@pytest.mark.parametrize("options", [{"rank": 0}, {"update_every": 0}])
def test_bad_options_are_input_errors(victim, tmp_path, options):
    from llm_lineage.attacks import derive
    from llm_lineage.errors import InputError

    with pytest.raises(InputError, match="gradnormlorp needs"):
        derive(victim, "gradnormlorp", tmp_path / "bad", steps=1, **options)
    with pytest.raises(InputError, match="gradnormlorp needs"):  # the paper's hyphenated name is the same attack
        derive(victim, "gradnorm-lorp", tmp_path / "bad", steps=1, **options)
