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
    def replace(node):  # the field wherever it occurs in the manifest (the copy loading reads)
        if isinstance(node, dict):
            return {k: (value if k == field else replace(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [replace(v) for v in node]
        return node

    def edit(doc: dict) -> None:
        edited = replace(doc)
        doc.clear()
        doc.update(edited)

    key = _key_file(tmp_path_factory.mktemp("key"), victim, capsys, edit_doc=edit)
    assert_the_law(capsys, "verify", "--owner", str(key), "--suspect", str(victim), "--outputs", "4", "--json")


def assert_refused(capsys, *args: str) -> str:
    """The law, and more: this input is wrong, so the command must say so (exit 2), not work."""
    code, err = run_cli(capsys, *args)
    assert code == 2 and "Traceback" not in err, (args, code, err[-2000:])
    lines = [line for line in err.strip().splitlines() if line and not line.startswith("[llm-lineage]")]  # progress
    assert lines[0].startswith("error: ") and sum(line.startswith("error: ") for line in lines) == 1, err
    return lines[0]


def _key_file(work: Path, victim: Path, capsys, edit_doc=None, edit_tensors=None) -> Path:
    """An owner key written by ``fingerprint``, its metadata (what loading reads) and tensors edited."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    code, err = run_cli(capsys, "fingerprint", str(victim), "-o", str(work / "key"), "--methods", "subspace,pcs")
    assert code == 0, err
    path = work / "key.safetensors"
    with safe_open(str(path), framework="numpy") as handle:
        doc = json.loads(handle.metadata()["llm_lineage"])
    tensors = load_file(str(path))
    if edit_doc:
        edit_doc(doc)
    if edit_tensors:
        edit_tensors(tensors)
    save_file(tensors, str(path), metadata={"llm_lineage": json.dumps(doc)})
    (work / "key.json").write_text(json.dumps(doc))
    return path


def _nan_first(tensors: dict, name: str) -> None:
    tensors[name] = tensors[name].copy()
    tensors[name].flat[0] = float("nan")


KEY_DAMAGE = {
    "no fingerprints table": ({"edit_doc": lambda d: d.pop("fingerprints")}, "fingerprints"),
    "no basis": ({"edit_tensors": lambda t: t.pop("subspace/basis")}, "lacks basis"),
    "hidden_size a string": ({"edit_doc": lambda d: d["fingerprints"]["subspace"]["fields"].update(hidden_size="64")},
                             "hidden_size is str"),
    "basis of 3 rows": ({"edit_tensors": lambda t: t.update({"subspace/basis": t["subspace/basis"][:3]})}, "basis"),
    "NaN in the basis": ({"edit_tensors": lambda t: _nan_first(t, "subspace/basis")}, "NaN"),
}


@pytest.mark.parametrize("damage", list(KEY_DAMAGE))
def test_owner_key_files_damaged_inside_are_refused_by_every_reader(capsys, victim, tmp_path, damage):
    edits, named = KEY_DAMAGE[damage]
    key = _key_file(tmp_path, victim, capsys, **edits)
    for args in (["verify", "--owner", str(key), "--suspect", str(victim), "--outputs", "4"],
                 ["compare", str(key), str(victim), "--method", "pcs"]):
        assert named in assert_refused(capsys, *args)


GGUF_DAMAGE = {
    "no embedding_length": ({"add_embedding_length": lambda self, n: None}, "no llama.embedding_length"),
    "an architecture with no keys": ({"add_architecture": lambda self: self.add_string("general.architecture", "evil")},
                                     "no evil.embedding_length"),
    "head_count 0": ({"add_head_count": lambda self, n: self.add_uint32(f"{self.arch}.attention.head_count", 0)},
                     "head_count is 0"),
}


@pytest.mark.parametrize("damage", list(GGUF_DAMAGE))
def test_gguf_metadata_missing_or_zero_is_refused_by_every_reader(capsys, victim, tmp_path, damage):
    from unittest import mock

    import gguf

    from llm_lineage.serve.gguf_export import export_gguf

    patches, named = GGUF_DAMAGE[damage]
    with mock.patch.multiple(gguf.GGUFWriter, **patches):
        path = str(export_gguf(victim, tmp_path / "damaged.gguf"))
    for args in (["inspect", path], ["fingerprint", path, "-o", str(tmp_path / "fp"), "--methods", "tracing"],
                 ["compare", str(victim), path, "--method", "tracing"], ["verify", "--owner", path,
                                                                          "--suspect", str(victim), "--outputs", "4"]):
        assert named in assert_refused(capsys, *args)


@FUZZ
@seed(19)
@given(content=st.one_of(st.binary(min_size=1, max_size=512),
                         st.sampled_from([b'"a string"', b"[]", b"{}", b'{"model": {"type": "BPE", "vocab": "x"}}',
                                          b'{"model": {"type": "BPE", "vocab": {}, "merges": 5}}'])))
def test_garbage_tokenizer_files_are_one_error_for_every_command(capsys, copy_of, tmp_path, content):
    model = copy_of("tokenizer")
    (model / "tokenizer.json").write_bytes(content)
    for args in (["inspect", str(model)], ["fingerprint", str(model), "-o", str(tmp_path / "fp"), "--methods", "tracing"],
                 ["compare", str(model), str(model), "--method", "tracing"]):
        assert "tokenizer" in assert_refused(capsys, *args)


def test_contents_that_disagree_with_the_config_are_refused(capsys, copy_of, tmp_path):
    import numpy as np
    from safetensors.numpy import load_file, save_file

    wider = copy_of("wider")
    config = json.loads((wider / "config.json").read_text())
    (wider / "config.json").write_text(json.dumps({**config, "hidden_size": 2 * config["hidden_size"]}))
    assert "hidden_size" in assert_refused(capsys, "inspect", str(wider))
    qwen2 = copy_of("qwen2-config")
    (qwen2 / "config.json").write_text(json.dumps({**config, "model_type": "qwen2",
                                                   "architectures": ["Qwen2ForCausalLM"]}))
    assert "biases" in assert_refused(capsys, "fingerprint", str(qwen2), "-o", str(tmp_path / "fp"))
    weights = load_file(str(wider / "model.safetensors"))
    renamed = copy_of("gpt2-names")
    save_file({k.replace("self_attn.q_proj", "attn.c_q"): v for k, v in weights.items()},
              str(renamed / "model.safetensors"))
    assert "query projection" in assert_refused(capsys, "compare", str(renamed), str(wider.parent / "wider"),
                                                "--method", "tracing")
    from llm_lineage import zoo

    gpt2 = zoo.build("gpt2", seed=11)  # a whole GPT-2 (plain MLP, packed qkv) under a Llama config
    gpt2_config = json.loads((gpt2 / "config.json").read_text())
    mixed = tmp_path / "gpt2-under-llama"
    shutil.copytree(gpt2, mixed)
    (mixed / "config.json").write_text(json.dumps({**config, "hidden_size": gpt2_config["n_embd"],
                                                   "num_hidden_layers": gpt2_config["n_layer"],
                                                   "num_attention_heads": gpt2_config["n_head"],
                                                   "num_key_value_heads": gpt2_config["n_head"],
                                                   "vocab_size": gpt2_config["vocab_size"]}))
    assert "gated MLP" in assert_refused(capsys, "inspect", str(mixed))
    lone = copy_of("lone")
    save_file({"foo": np.ones((3, 3), dtype=np.float32)}, str(lone / "model.safetensors"))
    assert "no tensor of a language model" in assert_refused(capsys, "registry", "add", str(lone), "--registry",
                                                             str(tmp_path / "r.sqlite"))
    zero = copy_of("zero-embedding")  # and a zero lm_head where it is not tied to the embedding
    save_file({k: (np.zeros_like(v) if "embed_tokens" in k or "lm_head" in k else v) for k, v in weights.items()},
              str(zero / "model.safetensors"))
    assert "rank" in assert_refused(capsys, "fingerprint", str(zero), "-o", str(tmp_path / "fp"), "--methods", "subspace")
    # a damaged model is refused whole by the registry, not stored with the methods that missed the damage
    assert "rank" in assert_refused(capsys, "registry", "add", str(zero), "--registry", str(tmp_path / "r.sqlite"))


@pytest.mark.parametrize("where", ["self_attn.q_proj", "mlp.down_proj", "embed_tokens"])
def test_attack_refuses_non_finite_weights_and_writes_nothing(capsys, copy_of, tmp_path, where):
    from safetensors.numpy import load_file, save_file

    model = copy_of("poisoned")
    weights = load_file(str(model / "model.safetensors"))
    _nan_first(weights, next(k for k in weights if where in k))
    save_file(weights, str(model / "model.safetensors"))
    out = tmp_path / "attacked"
    assert "NaN or inf" in assert_refused(capsys, "attack", str(model), "--kind", "quantize", "-o", str(out))
    assert not out.exists()
    registry = tmp_path / "r.sqlite"
    assert "NaN or inf" in assert_refused(capsys, "registry", "add", str(model), "--registry", str(registry))
    assert not list((tmp_path / "r.sqlite.blobs").glob("*/*.safetensors"))  # no blob written before the refusal
