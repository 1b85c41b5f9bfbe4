"""The std-profile maths: the statistic, relative-depth interpolation, correlation laws, reading, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from llm_lineage import errors, zoo
from llm_lineage.methods import METHODS, Kind, Method, fingerprint_io
from llm_lineage.methods.stdprofile import (
    StdProfileConfig,
    StdProfileMethod,
    compare,
    correlate,
    fingerprint,
    layer_std,
    verify,
)
from llm_lineage.methods.stdprofile.core import StdProfile, resample, score
from llm_lineage.stats import Verdict, calibrate
from llm_lineage.weights import open_checkpoint

from .conftest import write_checkpoint

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
profiles = arrays(np.float64, st.integers(3, 40), elements=st.floats(0.01, 1.0))


# --- the statistic ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 300), elements=finite), st.floats(-1e4, 1e4))
def test_layer_std_is_the_population_std_even_far_from_zero(values, offset):
    shifted = values + offset  # norm gains sit near 1: the fast formula must not cancel
    assert layer_std(shifted) == pytest.approx(np.std(shifted), rel=1e-6, abs=1e-9 * (1 + abs(offset)))


def test_layer_std_does_not_modify_its_input_and_accepts_any_shape():
    w = np.arange(12, dtype=np.float64).reshape(3, 4)
    before = w.copy()
    assert layer_std(w) == pytest.approx(np.std(before))
    np.testing.assert_array_equal(w, before)


# --- interpolation and correlation -----------------------------------------------------------


@given(st.integers(2, 30), st.integers(2, 60), finite, finite)
def test_resampling_a_linear_profile_keeps_it_linear(n_in, n_out, slope, intercept):
    depth = np.linspace(0, 1, n_in)
    out = resample(slope * depth + intercept, n_out)
    expected = slope * np.linspace(0, 1, n_out) + intercept
    np.testing.assert_allclose(out, expected, atol=1e-9 * (1 + abs(slope) + abs(intercept)))


@settings(max_examples=60)
@given(profiles, st.floats(0.01, 100), st.floats(-10, 10))
def test_correlation_ignores_offset_and_scale_and_flips_with_sign(profile, a, b):
    if np.ptp(profile) < 1e-6:
        return
    assert correlate(profile, a * profile + b) == pytest.approx(1.0, abs=1e-9)
    assert correlate(profile, -a * profile + b) == pytest.approx(-1.0, abs=1e-9)


@settings(max_examples=60)
@given(profiles, profiles)
def test_correlation_is_symmetric_and_bounded(p, q):
    r = correlate(p, q)
    if math.isnan(r):
        return
    assert -1.0 <= r <= 1.0
    assert r == pytest.approx(correlate(q, p), abs=1e-12)


def test_profiles_of_different_depth_are_compared_over_relative_depth():
    def shape(depth):
        return np.exp(2 * depth) + 0.5 * np.sin(6 * depth)

    deep = shape(np.linspace(0, 1, 40))             # a smooth profile over 40 layers ...
    shallow = shape(np.linspace(0, 1, 12))          # ... and the same shape over 12
    assert correlate(deep, shallow) > 0.999
    assert correlate(deep, shallow) == pytest.approx(correlate(shallow, deep))
    assert correlate(deep, shallow[::-1]) < 0.0     # upside down in depth is not the same shape


def test_two_layers_or_flat_profiles_give_no_correlation():
    assert math.isnan(correlate(np.array([1.0, 2.0]), np.array([3.0, 1.0])))
    assert math.isnan(correlate(np.ones(6), np.arange(6.0)))


# --- reading checkpoints ---------------------------------------------------------------------


def test_fingerprint_reads_each_projection_std_per_layer(tmp_path):
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.01, 0.1, (4, 7))
    norms = rng.uniform(0.01, 0.2, 7)
    ckpt = write_checkpoint(tmp_path / "m", sigma, hidden=64, norms=norms)
    fp = fingerprint(ckpt)
    assert fp.sigma.shape == (4, 7) and fp.n_layers == 7 and fp.projections == ("q_proj", "k_proj", "v_proj", "o_proj")
    np.testing.assert_allclose(fp.sigma, sigma, rtol=0.05)  # Gaussian draws of 4096 entries
    reader = open_checkpoint(ckpt)
    exact = [[np.std(reader.tensor(p, layer, dtype=np.float64)) for layer in range(7)] for p in fp.projections]
    np.testing.assert_allclose(fp.sigma, exact, rtol=1e-12)
    assert fp.extra_roles == ("attn_norm",)
    np.testing.assert_allclose(fp.extra_sigma[0], norms, rtol=0.3)
    assert not fp.is_moe and fp.stored_dtype == "F32"


def test_bf16_weights_are_profiled_exactly_from_the_stored_values(tmp_path):
    sigma = np.linspace(0.02, 0.05, 20).reshape(4, 5)
    fp32 = fingerprint(write_checkpoint(tmp_path / "f32", sigma, seed=3))
    bf16 = fingerprint(write_checkpoint(tmp_path / "bf16", sigma, seed=3, dtype="bfloat16"))
    assert bf16.stored_dtype == "BF16"
    # bf16 keeps 8 significant bits: the std moves by well under 1 %, the profile's shape not at all
    np.testing.assert_allclose(bf16.sigma, fp32.sigma, rtol=5e-3)
    assert score(fp32, bf16) > 0.999


@pytest.mark.parametrize("arch", ["phi3", "gpt2", "mixtral", "qwen2"])
def test_packed_conv1d_moe_and_biased_layouts_are_profiled(arch):
    path = zoo.build(arch, seed=0)
    ckpt = open_checkpoint(path)
    fp = fingerprint(ckpt)
    expected = [[np.std(ckpt.tensor(p, layer, dtype=np.float64)) for layer in range(ckpt.n_layers)]
                for p in ("q_proj", "k_proj", "v_proj", "o_proj")]
    np.testing.assert_allclose(fp.sigma, expected, rtol=1e-12)
    assert fp.is_moe == (arch == "mixtral")
    if arch in ("gpt2", "qwen2"):  # biases as extra profiles where every layer has them
        assert {"q_proj.bias", "k_proj.bias", "v_proj.bias"} <= set(fp.extra_roles)
    assert "attn_norm" in fp.extra_roles


def test_bad_inputs_raise_lineage_errors(tmp_path):
    with pytest.raises(errors.ModelNotFound):
        fingerprint(tmp_path / "nowhere")
    path = write_checkpoint(tmp_path / "m", np.full((4, 3), 0.02))
    (path / "config.json").write_text((path / "config.json").read_text().replace('"num_hidden_layers": 3',
                                                                                  '"num_hidden_layers": 4'))
    with pytest.raises(errors.MissingTensor, match="layer 3"):
        fingerprint(path)


def test_fingerprint_round_trips_through_a_fingerprint_file(tmp_path):
    fp = fingerprint(write_checkpoint(tmp_path / "m", np.random.default_rng(0).uniform(0.01, 0.1, (4, 5))))
    saved = fingerprint_io.save(tmp_path / "fp", {"std-profile": fp})
    loaded = fingerprint_io.load(saved)[0]["std-profile"]
    np.testing.assert_array_equal(loaded.sigma, fp.sigma)
    assert loaded.projections == fp.projections and loaded.name == fp.name and loaded.n_layers == fp.n_layers


# --- verdicts --------------------------------------------------------------------------------


def _profile(sigma: np.ndarray, name: str = "m") -> StdProfile:
    return StdProfile(name, name, {}, sigma.shape[1], ("q_proj", "k_proj", "v_proj", "o_proj"), sigma, (),
                      np.empty((0, sigma.shape[1])), False, "F32")


def test_a_separated_null_gives_derived_and_unrelated_verdicts():
    rng = np.random.default_rng(0)
    owner = _profile(rng.uniform(0.02, 0.1, (4, 24)), "owner")
    null = [_profile(rng.uniform(0.02, 0.1, (4, 24)), f"null{i}") for i in range(8)]
    copy = _profile(owner.sigma * 1.01 + 1e-4 * rng.standard_normal(owner.sigma.shape))
    result = compare(owner, copy, null=null)
    assert result.score > 0.99 and result.verdict is Verdict.DERIVED and result.p_value < 0.01
    assert result.z_score > 5 and result.best_possible_p < 0.01 and result.note == ""
    expected = calibrate([score(owner, n) for n in null])
    assert result.null_scores == expected.scores
    assert result.p_value == pytest.approx(expected.p_value(result.score))
    stranger = compare(owner, _profile(rng.uniform(0.02, 0.1, (4, 24))), null=null)
    assert stranger.verdict is Verdict.UNRELATED and stranger.p_value > 0.1


def test_an_overlapping_null_makes_even_a_perfect_copy_inconclusive():
    """Same-recipe models can share a profile's shape: then the method must not call anything derived."""
    rng = np.random.default_rng(1)
    shape = np.linspace(0.02, 0.08, 16)[None, :].repeat(4, axis=0)   # the recipe's common trend
    owner = _profile(shape + 1e-3 * rng.standard_normal(shape.shape))
    # unrelated models that differ from the trend by little (one almost not at all) or by more
    null = [_profile(shape + noise * rng.standard_normal(shape.shape)) for noise in (1e-4, 1e-3, 3e-3, 1e-2, 3e-3)]
    result = compare(owner, owner, null=null)
    assert result.score == pytest.approx(1.0)
    assert max(result.null_scores) > 0.99
    assert result.verdict is Verdict.INCONCLUSIVE and result.best_possible_p >= 0.01
    assert "null overlaps" in result.note


def test_two_layer_models_and_missing_nulls_are_inconclusive_with_a_reason():
    rng = np.random.default_rng(2)
    two = _profile(rng.uniform(0.02, 0.1, (4, 2)))
    null = [_profile(rng.uniform(0.02, 0.1, (4, 2))) for _ in range(4)]
    result = compare(two, two, null=null)
    assert math.isnan(result.score) and result.verdict is Verdict.INCONCLUSIVE and "2 layers" in result.note
    deep = _profile(rng.uniform(0.02, 0.1, (4, 9)))
    alone = compare(deep, deep)
    assert alone.verdict is Verdict.INCONCLUSIVE and math.isnan(alone.p_value) and "no null" in alone.note


def test_verify_takes_saved_fingerprints_and_extra_null_models(tmp_path):
    rng = np.random.default_rng(5)
    base = rng.uniform(0.02, 0.1, (4, 10))
    owner = write_checkpoint(tmp_path / "owner", base, seed=1)
    suspect = write_checkpoint(tmp_path / "suspect", base, seed=2)  # same profile, other draws
    nulls = [write_checkpoint(tmp_path / f"null{i}", rng.uniform(0.02, 0.1, (4, 10)), seed=10 + i) for i in range(6)]
    saved = fingerprint_io.save(tmp_path / "owner-fp", {"std-profile": fingerprint(owner)})
    config = StdProfileConfig()
    from_file = verify(saved, suspect, config, references=nulls)
    direct = verify(owner, suspect, config, references=nulls)
    assert from_file.score == pytest.approx(direct.score)
    assert len(from_file.null_scores) >= 6 and {str(n) for n in nulls} <= set(from_file.null.models)
    assert from_file.verdict is direct.verdict is Verdict.DERIVED
    assert verify(owner, nulls[0], config, references=nulls).verdict is not Verdict.DERIVED  # a null model itself


def test_registered_in_methods():
    method = METHODS["std-profile"]
    assert method.kind is Kind.WEIGHTS and type(method).plot is not Method.plot
    assert isinstance(method, StdProfileMethod)
    assert StdProfileConfig().min_layers == 3
