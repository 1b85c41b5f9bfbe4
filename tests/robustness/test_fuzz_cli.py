"""Property-based mutation of what users hand the CLI, run through the commands in process.

The law, for every mutated config.json, safetensors header, index.json and owner key file: the
command either works (exit 0: the mutation was harmless) or says one ``error:`` line (plus a
``hint:``) and exits 2 or 3; never a traceback, never more than a bounded amount of memory, and
within a bounded time. Fixed seed and a few dozen examples per input kind, so that CI stays fast;
``benchmarks/robustness_matrix.py`` runs the long matrix.
"""

from __future__ import annotations

import json
import resource
import shutil
import struct
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

MEMORY_BOUND_KB = 300_000  # peak RSS growth a malformed input may cause
TIME_BOUND_S = 60.0
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

CONFIG_KEYS = ["hidden_size", "num_attention_heads", "num_key_value_heads", "vocab_size", "num_hidden_layers",
               "intermediate_size", "model_type", "head_dim", "tie_word_embeddings", "max_position_embeddings"]
ODD_VALUES = st.sampled_from([-1, 0, 3, 10 ** 12, "abc", [1], None, 1.5, True, {"a": 1}])


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """``llm-lineage ARGS`` in this process: exit code and stderr."""
    from llm_lineage.cli import main

    argv = sys.argv
    sys.argv = ["llm-lineage", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, capsys.readouterr().err


def assert_the_law(capsys, *args: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    code, err = run_cli(capsys, *args)
    assert time.monotonic() - start < TIME_BOUND_S, args
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < MEMORY_BOUND_KB, args
    assert "Traceback" not in err, err[-3000:]
    if code != 0:
        assert code in (2, 3), (code, err[-2000:])
        lines = [line for line in err.strip().splitlines() if line]
        assert lines[0].startswith("error: ") and all(line.startswith(("error: ", "hint: ")) or i > 0
                                                      for i, line in enumerate(lines)), err
        assert len([line for line in lines if line.startswith("error: ")]) == 1, err


@pytest.fixture
def copy_of(victim, tmp_path):
    def make(name: str) -> Path:
        out = tmp_path / name
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(victim, out)
        return out

    return make


@FUZZ
@seed(19)
@given(key=st.sampled_from(CONFIG_KEYS), value=ODD_VALUES)
def test_config_values(capsys, copy_of, tmp_path, key, value):
    model = copy_of("config")
    config = json.loads((model / "config.json").read_text())
    config[key] = value
    (model / "config.json").write_text(json.dumps(config))
    assert_the_law(capsys, "inspect", str(model))
    assert_the_law(capsys, "fingerprint", str(model), "-o", str(tmp_path / "fp"), "--methods", "subspace,pcs")


@FUZZ
@seed(19)
@given(data=st.data())
def test_safetensors_headers(capsys, copy_of, data):
    model = copy_of("header")
    path = model / "model.safetensors"
    raw = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", raw[:8])
    kind = data.draw(st.sampled_from(["length", "header byte", "truncate"]))
    if kind == "length":
        raw[:8] = struct.pack("<Q", data.draw(st.sampled_from([0, 1, length + 1, 2 ** 40, 2 ** 63])))
    elif kind == "header byte":
        for _ in range(data.draw(st.integers(1, 3))):
            raw[data.draw(st.integers(8, 8 + length - 1))] = data.draw(st.integers(0, 255))
    else:
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    path.write_bytes(bytes(raw))
    assert_the_law(capsys, "inspect", str(model))
    assert_the_law(capsys, "fingerprint", str(model), "-o", str(model.parent / "fp"), "--methods", "subspace,pcs")


@FUZZ
@seed(19)
@given(weight_map=st.one_of(
    st.sampled_from([[], "model.safetensors", 5, None]),
    st.dictionaries(st.sampled_from(["model.embed_tokens.weight", "lm_head.weight", "x"]),
                    st.sampled_from(["model.safetensors", "../model.safetensors", "/etc/passwd", "missing.safetensors",
                                     ".", 7, None]), max_size=3)))
def test_index_files(capsys, copy_of, weight_map):
    model = copy_of("index")
    (model / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert_the_law(capsys, "inspect", str(model))


@FUZZ
@seed(19)
@given(field=st.sampled_from(["fingerprints", "basis", "hidden_size", "token_ids", "rank", "class", "n_tokens"]),
       value=ODD_VALUES)
def test_owner_key_files(capsys, victim, tmp_path_factory, field, value):
    work = tmp_path_factory.mktemp("key")
    code, err = run_cli(capsys, "fingerprint", str(victim), "-o", str(work / "key"), "--methods", "subspace")
    assert code == 0, err
    manifest = work / "key.json"
    data = json.loads(manifest.read_text())

    def replace(node):  # the field wherever it occurs in the manifest
        if isinstance(node, dict):
            return {k: (value if k == field else replace(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [replace(v) for v in node]
        return node

    manifest.write_text(json.dumps(replace(data)))
    assert_the_law(capsys, "verify", "--owner", str(work / "key.safetensors"), "--suspect", str(victim),
                   "--outputs", "4", "--json")
