"""adapter-base: a LoRA adapter's own B @ A deltas against candidate bases, with an exact permutation null."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from llm_lineage.adapter_base import adapter_base
from llm_lineage.errors import InputError
from llm_lineage.stats import Verdict


@pytest.fixture(scope="module")
def victim_adapter(victim, tmp_path_factory) -> Path:
    from llm_lineage.attacks.lora import train_adapter

    return train_adapter(victim, tmp_path_factory.mktemp("adapter") / "thief", steps=30, seed=1)


def test_an_adapter_names_the_model_it_was_trained_on(victim_adapter, victim, unrelated_llama):
    result = adapter_base(victim_adapter, [victim, unrelated_llama], progress=False)
    trained_on, other = result.candidates
    assert trained_on.verdict is Verdict.DERIVED and trained_on.holm_p_value < 0.01 and trained_on.modules == 6
    assert other.verdict is not Verdict.DERIVED and other.p_value > 0.05
    assert result.claimed_base == str(victim) and "Holm over 2 candidates" in result.null


def _random_adapter(folder: Path, rng: np.random.Generator, hidden: int = 64, layers: int = 2) -> Path:
    """An adapter whose deltas owe nothing to any model: what H0 looks like."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    tensors = {}
    for layer in range(layers):
        for name in ("q_proj", "v_proj"):
            out = hidden if name == "q_proj" else hidden // 2  # the zoo llama has 2 kv heads of 4
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{name}"
            tensors[f"{prefix}.lora_A.weight"] = rng.standard_normal((4, hidden)).astype(np.float32)
            tensors[f"{prefix}.lora_B.weight"] = rng.standard_normal((out, 4)).astype(np.float32)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    return folder


def test_deltas_independent_of_the_candidate_give_uniform_p_values(victim, tmp_path):
    # the null is exact: over 40 adapters drawn independently of the victim, p-values spread over (0, 1]
    rng = np.random.default_rng(0)
    p = np.array([adapter_base(_random_adapter(tmp_path / str(i), rng), [victim], permutations=99,
                               progress=False).candidates[0].p_value for i in range(40)])
    assert p.min() >= 1 / 100 and (p < 0.05).sum() <= 6 and 0.35 < p.mean() < 0.65


def test_real_checkpoints_an_independent_model_is_not_accused_other_shapes_are_ruled_out(shared_models, tmp_path):
    from transformers import AutoTokenizer

    from llm_lineage.attacks.lora import train_adapter

    hf = shared_models / "hf"
    adapter = train_adapter(hf / "stories260k", tmp_path / "a", steps=30, seed=1,
                            tokenizer=AutoTokenizer.from_pretrained(hf / "stories260k"))
    result = adapter_base(adapter, [hf / "llama2xs", hf / "babyllama-tok105"], progress=False)
    independent, wider = result.candidates
    assert independent.verdict is not Verdict.DERIVED and independent.modules == 15  # same shapes, another model
    assert wider.verdict is Verdict.UNRELATED and "cannot have been trained on this model" in wider.explanation


def test_what_is_not_an_adapter_or_holds_no_delta_is_one_line(victim, tmp_path):
    with pytest.raises(InputError, match="not a PEFT adapter folder"):
        adapter_base(victim, [victim], progress=False)
    folder = _random_adapter(tmp_path / "zero", np.random.default_rng(1))
    weights = load_file(folder / "adapter_model.safetensors")
    zeros = {k: np.zeros_like(v) if "lora_B" in k else v for k, v in weights.items()}
    save_file(zeros, str(folder / "adapter_model.safetensors"))
    with pytest.raises(InputError, match="adapts no matrix"):
        adapter_base(folder, [victim], progress=False)


def test_cli_json_and_bad_input(victim_adapter, victim, tmp_path):
    cli = [sys.executable, "-m", "llm_lineage.cli", "adapter-base"]
    done = subprocess.run([*cli, str(victim_adapter), str(victim), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["candidates"][0]["verdict"] == "derived"
    bad = subprocess.run([*cli, str(victim), str(victim)], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
