"""Quantisation round trips, LQ-LoRA's low-rank fit and magnitude pruning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from llm_lineage import zoo
from llm_lineage.attacks import derive
from llm_lineage.attacks.prune import magnitude_mask
from llm_lineage.attacks.quantize import low_rank_error, quantize_dequantize
from llm_lineage.errors import InputError

from .conftest import logits

matrices = arrays(np.float32, st.tuples(st.integers(1, 6), st.sampled_from([8, 16, 32])),
                  elements=st.floats(-4, 4, width=32))


@settings(max_examples=60, deadline=None)
@given(w=matrices, bits=st.sampled_from([3, 4, 8]), grouped=st.booleans())
def test_round_trip_error_is_at_most_half_a_step_and_idempotent(w, bits, grouped):
    weight = torch.from_numpy(w)
    group = 8 if grouped else None
    out = quantize_dequantize(weight, bits, group)
    g = group or w.shape[1]
    step = weight.abs().reshape(w.shape[0], -1, g).amax(-1, keepdim=True) / (2 ** (bits - 1) - 1)
    err = (out - weight).abs().reshape(w.shape[0], -1, g)
    assert torch.all(err <= step / 2 + 1e-6)
    levels = out.reshape(w.shape[0], -1, g)
    assert all(len(torch.unique(levels[i, j])) <= 2 ** bits for i in range(levels.shape[0]) for j in range(levels.shape[1]))
    assert torch.equal(quantize_dequantize(out, bits, group), out)


def test_bad_quantisation_options_are_input_errors():
    with pytest.raises(InputError, match="divide"):
        quantize_dequantize(torch.ones(4, 10), 4, 3)
    with pytest.raises(InputError, match="bits"):
        quantize_dequantize(torch.ones(4, 10), 1)


def test_fewer_bits_move_the_model_further(victim, tmp_path, input_ids):
    ref = logits(zoo.load(victim), input_ids)
    err = {bits: float((logits(zoo.load(derive(victim, "quantize", tmp_path / f"q{bits}", bits=bits)),
                               input_ids) - ref).abs().mean()) for bits in (8, 4)}
    assert 0 < err[8] < err[4]
    q8 = zoo.load(tmp_path / "q8")
    assert torch.equal(q8.lm_head.weight, zoo.load(victim).lm_head.weight)  # head kept in full precision


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), rank=st.integers(1, 8))
def test_low_rank_correction_only_reduces_the_quantisation_error(seed, rank):
    w = torch.randn(24, 32, generator=torch.Generator().manual_seed(seed))
    plain = (quantize_dequantize(w, 4, 8) - w).norm()
    fitted = (low_rank_error(w, rank, 4, 8) - w).norm()
    assert fitted <= plain + 1e-5
    assert (low_rank_error(w, 24, 4, 8) - w).norm() < 1e-4  # full rank recovers W


@settings(max_examples=40, deadline=None)
@given(w=matrices, sparsity=st.floats(0, 0.95))
def test_magnitude_mask_zeroes_the_smallest_fraction(w, sparsity):
    weight = torch.from_numpy(w)
    mask = magnitude_mask(weight, sparsity)
    n_zero = int(np.floor(sparsity * w.size))
    assert int((mask == 0).sum()) == n_zero
    if 0 < n_zero < w.size:
        kept, dropped = weight.abs()[mask == 1], weight.abs()[mask == 0]
        assert kept.min() >= dropped.max()


@pytest.mark.parametrize("structure,expected", [("heads", "heads"), ("neurons", "neurons")])
def test_structured_pruning_zeroes_whole_units(victim, tmp_path, structure, expected):
    model = zoo.load(derive(victim, "prune", tmp_path / structure, structure=structure, sparsity=0.5))
    for layer in model.model.layers:
        if expected == "heads":
            cols = layer.self_attn.o_proj.weight.view(64, 4, 16)
            assert int((cols.abs().sum(dim=(0, 2)) == 0).sum()) == 2
        else:
            down = layer.mlp.down_proj.weight
            assert int((down.abs().sum(dim=0) == 0).sum()) == 64
            dead = down.abs().sum(dim=0) == 0
            assert torch.all(layer.mlp.up_proj.weight[dead] == 0)


def test_unstructured_pruning_hits_the_requested_sparsity(victim, tmp_path):
    model = zoo.load(derive(victim, "prune", tmp_path / "u", sparsity=0.4))
    w = model.model.layers[1].mlp.up_proj.weight
    assert abs(float((w == 0).float().mean()) - 0.4) < 1e-3
    with pytest.raises(InputError, match="structure"):
        derive(victim, "prune", tmp_path / "bad", structure="rows")


def test_lq_lora_fits_the_error_then_trains_lora_adapters(victim, tmp_path, input_ids):
    ref = logits(zoo.load(victim), input_ids)
    plain = logits(zoo.load(derive(victim, "quantize", tmp_path / "q4", bits=4)), input_ids)
    fitted = logits(zoo.load(derive(victim, "lq-lora", tmp_path / "lq0", bits=4, rank=16, steps=0)), input_ids)
    assert (fitted - ref).abs().mean() < (plain - ref).abs().mean()  # the low-rank fit recovers some error
    trained = zoo.load(derive(victim, "lq-lora", tmp_path / "lq3", bits=4, rank=4, steps=3))
    assert not torch.allclose(logits(trained, input_ids), fitted)
