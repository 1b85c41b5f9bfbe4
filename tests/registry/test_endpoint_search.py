"""Search with an endpoint suspect: one probe and one campaign for every registered owner key,
over real HTTP to a server started by the test."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from llm_lineage import Verdict
from llm_lineage.errors import InputError
from llm_lineage.methods.subspace import SubspaceConfig
from llm_lineage.registry import Registry, search
from llm_lineage.registry.endpoint import NO_WEIGHTS
from llm_lineage.serve import LocalBackend, ServeOptions
from llm_lineage.serve.background import running

pytestmark = pytest.mark.slow

TOPK = ServeOptions(max_top_logprobs=5)  # an OpenAI-like cap: the top-k + logit_bias strategy


@pytest.fixture(scope="module")
def lora_suspect(victim):
    """The llama owner with LoRA merged into its attention: its lm_head, hence its output span, is the owner's."""
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    return derive(victim, "lora-qkv", zoo.cache_dir().parent / "registry-tests" / "llama-owner-lora-qkv",
                  steps=60, seed=2)


def _paid(url: str) -> int:
    return httpx.get(url.removesuffix("/v1") + "/stats", timeout=10).json()["answered"]


def test_endpoint_suspect_ranks_its_owner_first_with_one_campaign(zoo_registry, lora_suspect, tmp_path):
    with running(LocalBackend(lora_suspect)) as url:
        result = search(url, zoo_registry, top=len(zoo_registry),
                        endpoint_options={"api_model": "m", "cache_path": tmp_path / "q.sqlite"})
        paid = _paid(url)
    best = result.candidates[0]
    assert best.name == "llama-owner" and best.verdict == Verdict.DERIVED
    assert result.verdict == Verdict.DERIVED and "llama-owner" in result.explanation
    assert all(c.verdict != Verdict.DERIVED for c in result.candidates[1:])
    # every registered key was tested on the same evidence, paid for once
    assert result.n_shortlisted == len(zoo_registry) == len(result.candidates)
    (campaign,) = result.campaigns
    assert campaign.strategy == "full-logprobs"
    assert paid == campaign.queries_used == campaign.probe.n_queries + 64 + 32  # probe + hidden_size + 32 prompts
    # the registry null is the other keys on the same evidence; weight-based methods say why they cannot apply
    assert best.methods["subspace"].registry_null_n == len(zoo_registry) - 1
    assert best.agree == ("subspace",)
    assert "summary" in best.cannot_apply and "huref" in best.cannot_apply
    assert best.methods["huref"].note == NO_WEIGHTS and "cannot apply" in best.explanation


def test_unrelated_endpoint_gets_no_derived_verdict_and_resume_pays_nothing(zoo_registry, stranger, tmp_path):
    options = {"api_model": "m", "cache_path": tmp_path / "q.sqlite",
               "config": SubspaceConfig(n_outputs=6, n_tokens=96)}
    with running(LocalBackend(stranger), TOPK) as url:
        first = search(url, zoo_registry, top=len(zoo_registry), endpoint_options=options)
        paid = _paid(url)
        again = search(url, zoo_registry, top=len(zoo_registry), endpoint_options={**options, "resume": True})
        assert _paid(url) == paid  # every answer read back from the cache
    assert first.campaigns[0].strategy == "topk-biased"
    assert first.verdict == Verdict.UNRELATED
    assert all(c.verdict == Verdict.UNRELATED for c in first.candidates)
    (before,), (after,) = first.campaigns, again.campaigns
    assert before.queries_used == paid
    assert after.queries_used == 0 and after.queries_cached == before.queries_used + before.queries_cached
    assert [c.name for c in again.candidates] == [c.name for c in first.candidates]


def test_search_cli_over_http(zoo_registry, lora_suspect, tmp_path):
    cli = [sys.executable, "-c", "from llm_lineage.cli import main; main()", "search"]
    with running(LocalBackend(lora_suspect), TOPK) as url:
        done = subprocess.run([*cli, url, "--registry", zoo_registry.location, "--api-model", "m", "--top", "2",
                               "--outputs", "6", "--tokens", "96", "--cache", str(tmp_path / "q.sqlite"), "--json"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert [c["name"] for c in result["candidates"]][0] == "llama-owner"
        assert result["candidates"][0]["verdict"] == "derived" and result["verdict"] == "derived"
        assert result["campaigns"][0]["queries_used"] == _paid(url)
        # no --api-model: one line saying what to pass, exit 2, no traceback
        done = subprocess.run([*cli, url, "--registry", zoo_registry.location], capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 2 and "--api-model" in done.stderr and "Traceback" not in done.stderr


def test_a_registry_without_owner_keys_cannot_search_an_endpoint(registry_at, victim):
    with Registry(registry_at, create=True) as reg:
        reg.add(victim, name="owner", methods=["pcs"])
        with pytest.raises(InputError, match="no subspace owner key"):
            search("http://127.0.0.1:9/v1", reg, endpoint_options={"api_model": "m"})


def test_keys_of_another_vocabulary_get_their_own_campaign_and_say_why_they_fail(tmp_path, registry_at, victim,
                                                                                 unrelated_llama, lora_suspect):
    from llm_lineage import zoo

    wide = zoo.build("llama", seed=5, vocab_size=640)  # another vocabulary: its token ids reach past the suspect's
    with Registry(registry_at, create=True) as reg:
        for name, path in (("owner", victim), ("other", unrelated_llama), ("wide", wide)):
            reg.add(path, name=name, methods=["subspace"])
        with running(LocalBackend(lora_suspect), TOPK) as url:
            result = search(url, reg, endpoint_options={
                "api_model": "m", "cache_path": tmp_path / "q.sqlite", "config": SubspaceConfig(n_outputs=6, n_tokens=96)})
            paid = _paid(url)
    by_name = {c.name: c for c in result.candidates}
    assert result.candidates[0].name == "owner" and result.verdict == Verdict.DERIVED
    assert by_name["other"].verdict == Verdict.UNRELATED
    assert by_name["wide"].cannot_apply == ("subspace", "summary")
    assert "outside the vocabulary" in by_name["wide"].methods["subspace"].note
    assert result.n_shortlisted == 2  # only the testable keys count in the correction for candidates
    # both groups' bills are reported; the second probe was read back from the shared cache
    first, second = result.campaigns
    assert first.queries_used + second.queries_used == paid
    assert second.queries_cached >= second.probe.n_queries
