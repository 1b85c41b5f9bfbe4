"""PCS: a streamed global cosine that matches the dense computation; high for copies, broken by permutation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from llm_lineage import zoo
from llm_lineage.attacks import reparam
from llm_lineage.methods import METHODS
from llm_lineage.methods.fingerprint_io import load, save
from llm_lineage.methods.pcs import cosines, fingerprint, verify
from llm_lineage.stats import Verdict
from llm_lineage.weights import open_checkpoint


def test_streamed_cosine_equals_dense_state_dict_cosine(victim: Path, finetuned: Path) -> None:
    a = zoo.load(victim).state_dict()
    b = zoo.load(finetuned).state_dict()
    keys = [k for k in a if a[k].ndim >= 2 and k in b and a[k].shape == b[k].shape and "lm_head" not in k]
    keys.append("lm_head.weight")
    dot = sum(float((a[k].double() * b[k].double()).sum()) for k in keys)
    na = sum(float((a[k].double() ** 2).sum()) for k in keys)
    nb = sum(float((b[k].double() ** 2).sum()) for k in keys)
    score, roles, n_pairs, n_params = cosines(open_checkpoint(victim), open_checkpoint(finetuned))
    assert score == pytest.approx(dot / np.sqrt(na * nb), rel=1e-9)
    assert n_pairs == len(keys) and n_params == sum(a[k].numel() for k in keys)
    assert {"q_proj", "embed_tokens", "down_proj"} <= set(roles)


def test_verdicts(victim: Path, finetuned: Path, unrelated_llama: Path, unrelated_qwen2: Path) -> None:
    copy = METHODS["pcs"].verify(victim, victim)
    assert copy.score == pytest.approx(1.0)
    derived = verify(victim, finetuned)
    assert derived.verdict is Verdict.DERIVED and derived.score > 0.5
    for suspect in (unrelated_llama, unrelated_qwen2):
        result = verify(victim, suspect)
        assert result.verdict is Verdict.UNRELATED and abs(result.score) < 0.1


def test_permutation_breaks_pcs(victim: Path, tmp_path: Path) -> None:
    model = zoo.load(victim)
    ids = torch.tensor([[1, 5, 77, 300, 42]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
        reparam.permute(model, seed=3)
        after = model(input_ids=ids).logits
    assert torch.allclose(before, after, atol=1e-4)
    permuted = zoo.save(model, tmp_path / "permuted")
    intact, _, _, _ = cosines(open_checkpoint(victim), open_checkpoint(victim))
    broken, roles, _, _ = cosines(open_checkpoint(victim), open_checkpoint(permuted))
    assert intact == pytest.approx(1.0)
    assert roles["embed_tokens"] == pytest.approx(1.0)  # the residual basis was not touched
    assert roles["gate_proj"] < 0.2 and broken < 0.9


def test_fingerprint_pins_the_weights(victim: Path, tmp_path: Path) -> None:
    path = save(tmp_path / "pcs", {"pcs": fingerprint(victim)})
    assert verify(path, victim).score == pytest.approx(1.0)
    fp = load(path)[0]["pcs"]
    assert fp.checkpoint().path == Path(fp.model)
