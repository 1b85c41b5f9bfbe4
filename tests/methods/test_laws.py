"""Laws every registered method obeys, tested once for all of them through the contract only."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from llm_lineage.errors import InputError
from llm_lineage.methods import METHODS, Kind, Method, Result, register
from llm_lineage.methods.fingerprint_io import load, save
from llm_lineage.stats import Verdict
from llm_lineage.weights import open_checkpoint

WEIGHT_METHODS = [n for n, m in METHODS.items() if m.kind is Kind.WEIGHTS]


@pytest.mark.parametrize("name", list(METHODS))
def test_contract_attributes(name: str) -> None:
    method = METHODS[name]
    assert isinstance(method, Method) and method.name == name and isinstance(method.kind, Kind)
    assert dataclasses.is_dataclass(method.config_cls) and method.fingerprint_cls
    assert method.describe
    config = method.default_config()
    assert isinstance(config, method.config_cls)
    with pytest.raises(InputError, match="has no option"):
        method.configure(no_such_option=1)


@pytest.mark.parametrize("name", WEIGHT_METHODS)
def test_copy_is_derived_unrelated_is_not(name: str, deep_victim_for_laws: Path, unrelated_deep: Path,
                                          references_for_laws: tuple[Path, ...]) -> None:
    method = METHODS[name]
    copy = method.verify(deep_victim_for_laws, deep_victim_for_laws, references=references_for_laws)
    assert isinstance(copy, Result) and copy.method == name
    for field in ("score", "p_value", "verdict", "threshold", "notes", "owner", "suspect"):
        assert hasattr(copy, field)
    # a copy is derived, unless the method's null cannot tell even a copy from unrelated models
    # (std-profile on same-recipe models): then inconclusive, and the note says so
    assert copy.verdict is Verdict.DERIVED or (copy.verdict is Verdict.INCONCLUSIVE
                                               and "identical copy" in copy.note), copy
    if method.best_possible is not None:
        assert copy.score == pytest.approx(method.best_possible, rel=1e-6)
    stranger = method.verify(deep_victim_for_laws, unrelated_deep, references=references_for_laws)
    assert stranger.verdict is not Verdict.DERIVED, stranger
    assert math.isfinite(stranger.p_value) and stranger.p_value > copy.p_value


@pytest.mark.parametrize("name", WEIGHT_METHODS)
def test_fingerprint_file_round_trip(name: str, deep_victim_for_laws: Path, tmp_path: Path) -> None:
    method = METHODS[name]
    config = method.default_config()
    fp = method.fingerprint(open_checkpoint(deep_victim_for_laws), config)
    path = save(tmp_path / "fp", {name: fp})
    loaded = load(path)[0][name]
    assert isinstance(loaded, method.fingerprint_cls)
    assert method.score(fp, loaded, config) == pytest.approx(method.score(fp, fp, config), rel=1e-9, nan_ok=True)
    assert method.load_fingerprint(path) is not None


@pytest.mark.parametrize("name", [n for n in WEIGHT_METHODS if n in ("invariant", "std-profile")])
def test_claimed_invariance_to_head_and_neuron_permutation(name: str, deep_victim_for_laws: Path,
                                                          tmp_path: Path) -> None:
    from llm_lineage.attacks import derive

    permuted = derive(deep_victim_for_laws, "permute", tmp_path / "permuted", seed=3)
    method = METHODS[name]
    config = method.default_config()
    a = method.fingerprint(open_checkpoint(deep_victim_for_laws), config)
    b = method.fingerprint(open_checkpoint(permuted), config)
    assert method.score(a, b, config) == pytest.approx(method.score(a, a, config), rel=1e-4)


def test_registration_rejects_duplicates_and_malformed_names() -> None:
    pcs = METHODS["pcs"]
    with pytest.raises(ValueError, match="already registered"):
        register(pcs)
    bad = type(pcs)()
    bad.name = "Bad Name"  # type: ignore[misc]
    with pytest.raises(ValueError, match="lower case"):
        register(bad)
    with pytest.raises(TypeError):
        register(object())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def deep_victim_for_laws() -> Path:
    """Four blocks, so that every white-box method (std-profile needs three layers) can decide."""
    from llm_lineage import zoo

    return zoo.build("llama", seed=0, train_steps=300, num_hidden_layers=4)


@pytest.fixture(scope="module")
def unrelated_deep() -> Path:
    from llm_lineage import zoo

    return zoo.build("llama", seed=7, train_steps=300, num_hidden_layers=4)


@pytest.fixture(scope="module")
def references_for_laws() -> tuple[Path, ...]:
    """Unrelated models of the owner's shape and recipe: the null a careful user would bring."""
    from llm_lineage import zoo

    return zoo.null_models("llama", train_steps=300, num_hidden_layers=4)
