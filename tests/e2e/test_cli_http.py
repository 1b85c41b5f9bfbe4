"""The CLI against real servers it does not share a process with: ``llm-lineage serve`` in a
subprocess on a free loopback port, ``llm-lineage verify`` / ``probe`` over HTTP in another."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).with_name("llm-lineage"))
# top-k: 6 prompts x 96 tokens (about 150 queries); top-1 costs a query per token: fewer of both
TOPK_ARGS = ["--outputs", "6", "--tokens", "96"]
TOP1_ARGS = ["--outputs", "4", "--tokens", "80"]


@contextmanager
def served(model: Path, *options: str, start_timeout_s: float = 90.0):
    proc = subprocess.Popen([CLI, "serve", str(model), "--port", "0", "--served-name", "m", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], start_timeout_s)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("serving on http://127.0.0.1:"), f"server did not start: {line!r}"
        yield line.split()[-1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def stats(url: str) -> dict:
    return httpx.get(url.removesuffix("/v1") + "/stats", timeout=10).json()


def cli(*args: str, timeout: float = 300) -> dict:
    done = subprocess.run([CLI, *args, "--json"], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def verify(owner: Path, url: str, cache: Path, *extra: str, timeout: float = 300) -> dict:
    return cli("verify", "--owner", str(owner), "--suspect", url, "--api-model", "m", "--cache", str(cache),
               *extra, timeout=timeout)


@pytest.mark.parametrize("mode, serve_options, args, strategy", [
    ("top-k", ["--max-top-logprobs", "5"], TOPK_ARGS, "topk-biased"),
    ("top-1", ["--max-top-logprobs", "1"], TOP1_ARGS, "top1-biased"),
])
def test_served_copy_is_derived_and_unrelated_is_unrelated(victim, unrelated_llama, tmp_path, mode, serve_options,
                                                           args, strategy):
    for suspect, truth in ((victim, "derived"), (unrelated_llama, "unrelated")):
        with served(suspect, *serve_options) as url:
            report = verify(victim, url, tmp_path / f"{truth}.sqlite", *args)
            answered = stats(url)["answered"]
        assert report["verdict"] == truth, f"{mode}: {suspect.name}"
        bill = report["endpoint"]
        assert bill["strategy"] == strategy and bill["probe"]["strategy"] == strategy
        assert bill["queries_used"] == answered > 0  # the client's bill is what the server answered
        assert report["access"] == {"topk-biased": "topk", "top1-biased": "top1"}[strategy]


def test_probe_reports_an_openai_like_endpoint(victim, tmp_path):
    with served(victim, "--max-top-logprobs", "5", "--ignore-logit-bias-in-logprobs", "--max-biased-tokens", "300",
                "--logprob-decimals", "4") as url:
        report = cli("probe", url, "--owner", str(victim), "--api-model", "m", "--cache", str(tmp_path / "p.sqlite"))
    probe = report["probe"]
    assert (probe["top_logprobs_cap"], probe["bias_shifts_logprobs"], probe["bias_changes_sampling"],
            probe["max_biased_tokens"], probe["logprob_decimals"], probe["echo"]) == (5, False, True, 300, 4, True)
    assert report["strategy"] == "echo"
    assert "does not shift" in probe["strategies"]["topk-biased"]["unavailable"]


def kill_mid_campaign(url: str, owner: Path, cache: Path, *args: str, after: int) -> int:
    """Start ``verify`` against ``url``, kill -9 it once ``after`` answers are paid and the next request
    is held unanswered at the server (so every earlier answer is committed); return the answers paid."""
    client = subprocess.Popen([CLI, "verify", "--owner", str(owner), "--suspect", url, "--api-model", "m",
                               "--cache", str(cache), "--concurrency", "1", "--json", *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while stats(url)["answered"] < after and time.monotonic() < deadline and client.poll() is None:
            time.sleep(0.05)
        httpx.post(url.removesuffix("/v1") + "/admin/pause", timeout=10)
        while stats(url)["held"] < 1 and time.monotonic() < deadline and client.poll() is None:
            time.sleep(0.02)
        paid = stats(url)["answered"]
        assert client.poll() is None, f"the client ended early: {client.stderr.read()[-2000:]}"
        os.kill(client.pid, signal.SIGKILL)
    finally:
        client.kill()
        client.wait(timeout=10)
    httpx.post(url.removesuffix("/v1") + "/admin/resume", timeout=10)
    for _ in range(100):  # the held request of the dead client is dropped, not answered
        if stats(url)["abandoned"] == 1:
            break
        time.sleep(0.05)
    assert after <= paid, "the campaign did not get going before the deadline"
    return paid


def resume_pays_only_the_rest(url: str, owner: Path, cache: Path, paid_before: int, *args: str) -> None:
    """Resume a killed campaign: derived, and no query answered twice at the server."""
    report = verify(owner, url, cache, "--resume", "--concurrency", "1", *args)
    after = stats(url)
    assert report["verdict"] == "derived"
    assert after["repeated"] == 0 and after["abandoned"] == 1  # no query paid twice, counted at the server
    assert report["endpoint"]["queries_cached"] >= paid_before
    assert report["endpoint"]["queries_used"] == after["answered"] - paid_before


def test_killed_campaign_resumes_without_repeating_a_paid_query(victim, tmp_path):
    cache = tmp_path / "campaign.sqlite"
    with served(victim, "--max-top-logprobs", "5", "--admin") as url:
        paid_before = kill_mid_campaign(url, victim, cache, *TOPK_ARGS, after=40)
        resume_pays_only_the_rest(url, victim, cache, paid_before, *TOPK_ARGS)


def test_faults_at_20_percent_still_give_the_right_verdicts(victim, unrelated_llama, tmp_path):
    faults = ["--max-top-logprobs", "5", "--fault-rate", "0.2", "--fault-delay", "1.5"]
    for suspect, truth in ((victim, "derived"), (unrelated_llama, "unrelated")):
        with served(suspect, *faults) as url:
            report = verify(victim, url, tmp_path / f"{truth}.sqlite", "--request-timeout", "0.5", *TOPK_ARGS)
            injected = stats(url)["faults"]
        assert report["verdict"] == truth
        assert report["endpoint"]["queries_retried"] >= sum(injected.values()) > 0
        assert set(injected) == {"429", "500", "timeout"}


def test_endpoint_errors_are_one_line_with_exit_code_3(victim, tmp_path):
    with served(victim, "--no-logprobs", "--no-logit-bias") as url:
        done = subprocess.run([CLI, "verify", "--owner", str(victim), "--suspect", url, "--api-model", "m",
                               "--cache", str(tmp_path / "q.sqlite")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert done.stderr.startswith("error: ") and "cannot be verified" in done.stderr and "Traceback" not in done.stderr


def test_real_int8_copy_over_http_is_derived_with_its_grade(shared_models, tmp_path):
    hf = shared_models / "hf"
    with served(hf / "stories260k-q80", "--max-top-logprobs", "5") as url:
        report = verify(hf / "stories260k", url, tmp_path / "q.sqlite", "--outputs", "32")
    # the copy is llama2.c's Q8 of the owner's head: an exact copy at that precision, no reference needed
    assert report["verdict"] == "derived" and report["decided_by"] == "compatibility at int8 groups of 32 (llama2.c Q8)"
    assert report["graded_verdict"] == "derived (exact copy at int8 groups of 32 (llama2.c Q8))"
    assert report["perturbation"]["bits_equivalent"] == 8
    # top-5 with logit_bias: (tokens - 1) / 4 queries per output plus misses retried with a larger
    # bias; before the language-model null the same campaign cost 6,663 queries for 96 outputs
    assert report["queries"] <= 32 * 80  # 2,310 measured with the chained prompt set (more bias retries)


# --- text only: a chat server without log-probs ---------------------------------------------

TEXT_ARGS = ["--method", "text", "--prompts", "40"]  # 80 completions of 32 tokens


@pytest.fixture(scope="module")
def light_finetune(victim):
    """The owner fine-tuned lightly on another corpus: it still writes like the owner."""
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    return derive(victim, "finetune", zoo.cache_dir().parent / "text-tests" / "finetune-light", steps=30, lr=1e-4)


def test_text_only_chat_server_gives_derived_and_unrelated(victim, unrelated_llama, light_finetune, tmp_path):
    for suspect, truth in ((light_finetune, "derived"), (unrelated_llama, "unrelated")):
        with served(suspect, "--no-logprobs") as url:
            report = verify(victim, url, tmp_path / f"{truth}.sqlite", *TEXT_ARGS, "--api", "chat")
            answered = stats(url)["answered"]
        assert report["verdict"] == truth, (suspect.name, report["p_value"], report["notes"])
        bill = report["endpoint"]
        assert (bill["api"], bill["chat_api"], bill["completions_api"]) == ("chat", True, True)
        assert bill["queries_used"] == answered == 2 + 80  # two API checks, then the sample
        assert report["n_completions"] == 80 and report["api"] == "chat" and report["null"]["n"] >= 3
        assert report["null"]["source"].startswith("text:")


def test_killed_text_campaign_resumes_without_repeating_a_paid_query(victim, light_finetune, tmp_path):
    cache = tmp_path / "text.sqlite"
    with served(light_finetune, "--no-logprobs", "--admin") as url:
        paid_before = kill_mid_campaign(url, victim, cache, *TEXT_ARGS, after=30)
        assert paid_before < 82
        resume_pays_only_the_rest(url, victim, cache, paid_before, *TEXT_ARGS)
