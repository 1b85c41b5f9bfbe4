"""llama.cpp's own ``llama-server``, not ours and not llama-cpp-python's: probe and verify over HTTP.

Its completions answer in the per-token ``content`` form with each token's ``id``; ``logprobs``
(its ``n_probs``) reaches the whole vocabulary; the log-probs are those of the raw logits, before
the sampler chain, so ``logit_bias`` moves the greedy token but never the returned log-probs; with
``post_sampling_probs`` it returns probabilities after the sampler chain instead (``top_probs``),
which at temperature 0 are the single greedy token. The binaries come from
``.ci/build-llama-server`` (CI builds them; ``$LLM_LINEAGE_LLAMA_SERVER`` names the server, and
then a missing binary fails instead of skipping).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm_lineage.methods.subspace import SubspaceConfig, verify_endpoint
from llm_lineage.outputs.campaign import open_endpoint
from llm_lineage.serve.gguf_export import export_gguf
from llm_lineage.stats import Verdict

from .conftest import free_port


def _binary(name: str) -> Path | None:
    named = os.environ.get("LLM_LINEAGE_LLAMA_SERVER")
    if named:
        server = Path(named)
        assert server.is_file(), f"$LLM_LINEAGE_LLAMA_SERVER names {server}, which is not there"
        return server.with_name(name)
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    return Path(found) if found else None


SERVER, QUANTIZE = _binary("llama-server"), _binary("llama-quantize")
pytestmark = pytest.mark.skipif(SERVER is None, reason="llama-server is not built: .ci/build-llama-server")


@pytest.fixture
def llama_server(servers):
    """Start ``llama-server`` on a GGUF; its URL."""
    def start(gguf: Path) -> str:
        port = free_port()
        servers([str(SERVER), "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port), "--ctx-size", "512",
                 "--parallel", "1", "--threads", "2"], f"http://127.0.0.1:{port}/health", gguf.stem, timeout_s=60)
        return f"http://127.0.0.1:{port}/v1"

    return start


def quantize(gguf: Path, ftype: str) -> Path:
    assert QUANTIZE is not None and QUANTIZE.is_file(), "llama-quantize is built beside llama-server"
    out = gguf.with_name(f"{gguf.stem}-{ftype}.gguf")
    subprocess.run([str(QUANTIZE), str(gguf), str(out), ftype], check=True, capture_output=True)
    return out


def test_probe_reads_ids_and_the_whole_vocabulary_and_sees_bias_move_only_the_greedy_token(
        victim, llama_server, tmp_path):
    url = llama_server(export_gguf(victim, tmp_path / "victim.gguf"))
    campaign = open_endpoint(url, api_model="m", vocab_size=512, tokenizer_dir=victim,
                             cache_path=tmp_path / "probe.sqlite")
    campaign.close()
    probe = campaign.probe
    assert probe.logprobs and probe.token_ids and probe.top_logprobs_cap == 512
    assert probe.logit_bias and probe.bias_changes_sampling and not probe.bias_shifts_logprobs
    assert not probe.echo
    assert campaign.plan.name == "full-logprobs" and campaign.plan.queries_per_prompt == 1


def test_post_sampling_probs_carry_no_log_probs_so_the_probe_falls_back_to_the_bias_search(
        victim, llama_server, tmp_path):
    url = llama_server(export_gguf(victim, tmp_path / "victim.gguf"))
    campaign = open_endpoint(url, api_model="m", vocab_size=512, tokenizer_dir=victim,
                             cache_path=tmp_path / "post.sqlite", extra_body={"post_sampling_probs": True})
    campaign.close()
    assert not campaign.probe.logprobs and campaign.probe.bias_changes_sampling
    assert campaign.plan.name == "greedy-search"


@pytest.mark.parametrize("ftype", [None, "Q8_0", "Q4_K_M"])
def test_verify_names_the_copy_llama_cpp_serves(victim, llama_server, tmp_path, monkeypatch, ftype):
    """No references anywhere: the float32 export is the owner's exact lm_head, and llama.cpp's
    own quantiser's files are exact copies at Q8_0 (a 64-wide model has no K-quant rows, so
    Q4_K_M keeps its lm_head at Q8_0)."""
    monkeypatch.delenv("LLM_LINEAGE_REFERENCES", raising=False)
    gguf = export_gguf(victim, tmp_path / "victim.gguf")
    url = llama_server(quantize(gguf, ftype) if ftype else gguf)
    outcome = verify_endpoint(victim, url, api_model="m", cache_path=tmp_path / "verify.sqlite")
    assert outcome.verdict is Verdict.DERIVED, outcome.result.note
    assert outcome.result.grade == ("exact lm_head" if ftype is None else "exact copy at GGUF Q8_0")
    assert outcome.campaign.strategy == "full-logprobs"
    assert outcome.campaign.queries_used <= outcome.result.n_outputs + 20  # one per prompt, and the probe


def test_verify_over_the_bias_search_tells_a_copy_from_an_unrelated_model(
        victim, unrelated_llama, llama_server, tmp_path):
    """Greedy decoding under ``logit_bias`` only (the strategy for servers that return no
    log-probs): the copy is derived, the unrelated model of the same tokenizer is not. Gaps beyond
    the largest bias are censored, so more tokens than the 65 the rank needs are asked for."""
    config = SubspaceConfig(n_outputs=4, n_tokens=160)
    for suspect, truth in ((victim, Verdict.DERIVED), (unrelated_llama, Verdict.UNRELATED)):
        url = llama_server(export_gguf(suspect, tmp_path / f"{suspect.name}.gguf"))
        outcome = verify_endpoint(victim, url, api_model="m", config=config, strategy="greedy-search",
                                  cache_path=tmp_path / f"{truth.value}.sqlite")
        assert outcome.verdict is truth, outcome.result.note


@pytest.mark.parametrize("kind", ["shuffle-vocab", "extend-vocab"])
def test_a_changed_vocabulary_is_read_by_token_text_and_derived(victim, llama_server, tmp_path, kind):
    """llama-server names each token's id and text: a shuffled vocabulary is read by text through
    the owner's tokenizer (its ids are not the owner's), an extended one by id, the appended
    tokens left out; both are the owner's exact lm_head."""
    from llm_lineage.attacks import derive

    suspect = derive(victim, kind, tmp_path / kind, seed=2)
    url = llama_server(export_gguf(suspect, tmp_path / f"{kind}.gguf"))
    outcome = verify_endpoint(victim, url, api_model="m", cache_path=tmp_path / "verify.sqlite")
    assert outcome.verdict is Verdict.DERIVED and outcome.result.grade == "exact lm_head", outcome.result.note
    assert outcome.campaign.probe.ids_differ is (kind == "shuffle-vocab")
    mapped = [n for n in outcome.result.notes if "mapped by string" in n]
    assert bool(mapped) is (kind == "shuffle-vocab")
