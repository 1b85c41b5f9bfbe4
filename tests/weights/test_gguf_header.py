"""The lean GGUF header reader agrees with ``gguf.GGUFReader`` on everything the stores use."""

from __future__ import annotations

import numpy as np
import pytest

from llm_lineage.errors import CorruptCheckpoint
from llm_lineage.weights import open_checkpoint
from llm_lineage.weights.gguf_header import GGUFHeader


def _write(path, endianess):
    import gguf

    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), "llama", endianess=endianess)
    writer.add_block_count(1)
    writer.add_embedding_length(32)
    writer.add_head_count(4)
    writer.add_rope_freq_base(10000.0)
    writer.add_token_list([f"t{i}" for i in range(40)])
    writer.add_token_types([3 if i == 0 else 1 for i in range(40)])
    writer.add_token_merges([f"t{i} t{i + 1}" for i in range(39)])
    writer.add_tensor("token_embd.weight", rng.normal(size=(40, 32)).astype(np.float32))
    writer.add_tensor("blk.0.attn_q.weight", rng.normal(size=(32, 32)).astype(np.float16))
    quantised = gguf.quants.quantize(rng.normal(size=(32, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("blk.0.attn_v.weight", quantised, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("order", ["LITTLE", "BIG"])
def test_header_matches_the_gguf_library(tmp_path, order):
    import gguf

    path = _write(tmp_path / "m.gguf", gguf.GGUFEndian[order])
    ours, theirs = GGUFHeader(path), gguf.GGUFReader(str(path))
    assert [(t.name, t.tensor_type, t.shape) for t in ours.tensors] == \
        [(t.name, t.tensor_type, tuple(t.shape.tolist())) for t in theirs.tensors]
    for mine, ref in zip(ours.tensors, theirs.tensors, strict=True):
        np.testing.assert_array_equal(ours.data(mine), ref.data)
    for key, field in theirs.fields.items():
        if not key.startswith("GGUF.") and key != "tokenizer.ggml.merges":  # merges: skipped, never needed
            assert ours.fields[key] == field.contents(), key
    assert ours.fields["tokenizer.ggml.merges"] is None


def test_store_reads_tokens_types_and_quantised_tensors(tmp_path):
    import gguf

    ckpt = open_checkpoint(_write(tmp_path / "m.gguf", gguf.GGUFEndian.LITTLE))
    assert ckpt.store.tokens[:2] == ["t0", "t1"] and ckpt.store.token_types[0] == 3
    v = ckpt.store.get("model.layers.0.self_attn.v_proj.weight")
    assert v.shape == (32, 64) and np.isfinite(v).all()


def test_truncated_gguf_is_a_corrupt_checkpoint(tmp_path):
    import gguf

    path = _write(tmp_path / "m.gguf", gguf.GGUFEndian.LITTLE)
    whole = path.read_bytes()
    for cut in (200, len(whole) - 100):  # inside the header; inside the last tensor's data
        path.write_bytes(whole[:cut])
        with pytest.raises(CorruptCheckpoint, match="not a readable GGUF"):
            open_checkpoint(path)
