"""Safetensors (single, sharded, bf16), GGUF and pickle stores; corrupt input gets its own error."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from llm_lineage import errors, zoo
from llm_lineage.weights import open_checkpoint
from llm_lineage.weights.stores import _unpermute_qk


@pytest.fixture()
def llama_dir(tmp_path):
    src = zoo.build("llama", seed=0)
    dst = tmp_path / "llama"
    shutil.copytree(src, dst)
    return dst


def _reshard(model_dir, dtype=torch.float32):
    """Rewrite a model dir as two shards plus an index, optionally casting floats."""
    from safetensors.torch import load_file

    tensors = {k: v.to(dtype) for k, v in load_file(model_dir / "model.safetensors").items()}
    (model_dir / "model.safetensors").unlink()
    keys = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    for name, shard_keys in shards.items():
        save_file({k: tensors[k].contiguous() for k in shard_keys}, model_dir / name)
    index = {"metadata": {}, "weight_map": {k: n for n, ks in shards.items() for k in ks}}
    (model_dir / "model.safetensors.index.json").write_text(json.dumps(index))
    return tensors


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_sharded_checkpoint_reads_each_dtype(llama_dir, dtype):
    original = open_checkpoint(zoo.build("llama", seed=0)).tensor("k_proj", 1)
    _reshard(llama_dir, dtype)
    ckpt = open_checkpoint(llama_dir)
    assert len(ckpt.store.files) == 2
    got = ckpt.tensor("k_proj", 1, dtype=np.float64)
    assert got.dtype == np.float64
    tol = {torch.float32: 0, torch.bfloat16: 1e-2, torch.float16: 1e-3}[dtype]
    np.testing.assert_allclose(got, original, rtol=tol, atol=tol)


def test_single_safetensors_file_with_config_beside_it(llama_dir):
    ckpt = open_checkpoint(llama_dir / "model.safetensors")
    assert ckpt.config.model_type == "llama" and ckpt.n_layers == 2


def test_lone_safetensors_file_infers_sizes(llama_dir, tmp_path):
    lone = tmp_path / "lone.safetensors"
    shutil.copy(llama_dir / "model.safetensors", lone)
    ckpt = open_checkpoint(lone)
    assert ckpt.config.hidden_size == 64 and ckpt.config.vocab_size == zoo.VOCAB_SIZE
    assert ckpt.config.num_hidden_layers == 2


def test_llamacpp_qk_permutation_is_undone(tmp_path):
    """Write a GGUF the way llama.cpp's converter does (rows permuted) and read q/k back unchanged."""
    import gguf

    ckpt = open_checkpoint(zoo.build("llama", seed=0))
    cfg = ckpt.config

    def permute(w, n_head):  # convert_hf_to_gguf.py: LlamaModel.permute
        return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_tensor("token_embd.weight", ckpt.tensor("embed_tokens"))
    writer.add_tensor("blk.0.attn_q.weight", permute(ckpt.tensor("q_proj", 0), cfg.num_attention_heads))
    writer.add_tensor("blk.0.attn_k.weight", permute(ckpt.tensor("k_proj", 0), cfg.num_key_value_heads))
    writer.add_tensor("blk.0.attn_v.weight", ckpt.tensor("v_proj", 0))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    back = open_checkpoint(path)
    assert back.config.num_key_value_heads == cfg.num_key_value_heads
    np.testing.assert_array_equal(back.tensor("q_proj", 0), ckpt.tensor("q_proj", 0))
    np.testing.assert_array_equal(back.tensor("k_proj", 0), ckpt.tensor("k_proj", 0))
    np.testing.assert_array_equal(back.tensor("v_proj", 0), ckpt.tensor("v_proj", 0))
    assert not np.array_equal(_unpermute_qk(ckpt.tensor("q_proj", 0), cfg.num_attention_heads),
                              ckpt.tensor("q_proj", 0))


def test_real_gguf_reads_one_layer_and_dequantises(shared_models):
    ckpt = open_checkpoint(shared_models / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert (ckpt.config.hidden_size, ckpt.config.num_hidden_layers, ckpt.config.num_key_value_heads) == (576, 30, 3)
    assert ckpt.config.tie_word_embeddings
    q = ckpt.tensor("q_proj", 29)
    assert q.shape == (576, 576) and q.dtype == np.float32 and np.isfinite(q).all()
    assert ckpt.tensor("lm_head").shape == (49152, 576)


# --- bad input: one error type each ---------------------------------------------------------


def test_missing_directory():
    with pytest.raises(errors.ModelNotFound):
        open_checkpoint("/nonexistent/model")


def test_missing_and_malformed_config(llama_dir):
    (llama_dir / "config.json").write_text("{not json")
    with pytest.raises(errors.ConfigError, match="not valid JSON"):
        open_checkpoint(llama_dir)
    (llama_dir / "config.json").unlink()
    with pytest.raises(errors.ConfigError, match="no config.json"):
        open_checkpoint(llama_dir)


def test_truncated_safetensors(llama_dir):
    data = (llama_dir / "model.safetensors").read_bytes()
    (llama_dir / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(errors.CorruptCheckpoint):
        open_checkpoint(llama_dir)


def test_corrupt_safetensors_header(llama_dir):
    data = bytearray((llama_dir / "model.safetensors").read_bytes())
    data[8:20] = b"\xff" * 12
    (llama_dir / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(errors.CorruptCheckpoint):
        open_checkpoint(llama_dir)


def test_missing_shard(llama_dir):
    _reshard(llama_dir)
    (llama_dir / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(errors.MissingShard, match="model-00002-of-00002"):
        open_checkpoint(llama_dir)


def test_missing_lm_head_with_untied_embeddings(llama_dir):
    from safetensors.torch import load_file

    tensors = load_file(llama_dir / "model.safetensors")
    del tensors["lm_head.weight"]
    save_file(tensors, llama_dir / "model.safetensors")
    with pytest.raises(errors.MissingTensor, match="no lm_head"):
        open_checkpoint(llama_dir).tensor("lm_head")


def test_nan_weights_in_a_used_tensor(llama_dir):
    from safetensors.torch import load_file

    tensors = load_file(llama_dir / "model.safetensors")
    tensors["model.layers.1.self_attn.q_proj.weight"][3, 3] = float("nan")
    save_file(tensors, llama_dir / "model.safetensors")
    ckpt = open_checkpoint(llama_dir)
    ckpt.tensor("q_proj", 0)  # untouched tensors still read
    with pytest.raises(errors.NonFiniteWeights, match="layer 1 q_proj"):
        ckpt.tensor("q_proj", 1)


def test_pickle_is_refused_unless_allowed(llama_dir, tmp_path):
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(llama_dir / "config.json", pickled / "config.json")
    torch.save(load_file(llama_dir / "model.safetensors"), pickled / "pytorch_model.bin")
    with pytest.raises(errors.PickleRefused):
        open_checkpoint(pickled)
    ckpt = open_checkpoint(pickled, allow_pickle=True)
    np.testing.assert_array_equal(ckpt.tensor("o_proj", 1), open_checkpoint(llama_dir).tensor("o_proj", 1))
