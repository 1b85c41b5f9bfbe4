"""Queries and wall time of a top-5 subspace verdict over HTTP against a served zoo model.

Starts ``llm-lineage serve`` (a separate process, so that its CPU time can be read from /proc)
with ``--max-top-logprobs 5``, verifies the served victim against itself through the endpoint
client, and prints queries used, wall time, and the share of CPU time spent in the client
(this process: SDK, cache, reconstruction, statistics) versus the server (HTTP + model).

    LLM_LINEAGE_CACHE=/tmp/llc .venv/bin/python benchmarks/http_verify.py [--n-outputs N] [--top-k K]
        [--concurrency C] [--latency SECONDS]

``--latency`` makes every answer wait, as a provider's round trip does; with it, wall time shows
what ``--concurrency`` (prompts queried at once) buys.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-outputs", type=int, default=None, help="prompts (default: the method's)")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the server waits per answer")
    args = parser.parse_args()

    from llm_lineage import zoo
    from llm_lineage.methods.subspace import SubspaceConfig, verify_endpoint

    victim = zoo.build("llama", seed=0, train_steps=300)
    cmd = [str(Path(sys.executable).with_name("llm-lineage")), "serve", str(victim), "--port", "0",
           "--served-name", "victim", "--max-top-logprobs", str(args.top_k), "--latency", str(args.latency)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("serving on "):
            raise SystemExit(f"server did not start: {line!r}")
        url = line.split()[-1]
        server_cpu0 = cpu_seconds(server.pid)
        client0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            outcome = verify_endpoint(victim, url, api_model="victim", cache_path=Path(tmp) / "q.sqlite",
                                      concurrency=args.concurrency, config=SubspaceConfig(n_outputs=args.n_outputs))
        wall = time.perf_counter() - start
        client1 = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = cpu_seconds(server.pid) - server_cpu0
    finally:
        server.kill()
        server.wait(timeout=10)
    client_cpu = (client1.ru_utime - client0.ru_utime) + (client1.ru_stime - client0.ru_stime)
    report = outcome.campaign
    total = client_cpu + server_cpu
    print(f"verdict            {outcome.verdict.value} (score {outcome.score:.2f}, p {outcome.p_value:.2g})")
    print(f"strategy           {report.strategy} (top-{args.top_k}), {outcome.result.n_outputs} prompts, "
          f"{outcome.result.n_tokens} tokens")
    print(f"queries            {report.queries_used} used, {report.queries_cached} cached, "
          f"{report.queries_retried} retried")
    print(f"wall time          {wall:.1f} s ({1000 * wall / max(report.queries_used, 1):.1f} ms per query)")
    print(f"CPU client/server  {client_cpu:.1f} s / {server_cpu:.1f} s "
          f"({100 * client_cpu / total:.0f}% / {100 * server_cpu / total:.0f}%)")
    print(f"machine load       {os.getloadavg()[0]:.1f} (1-min average; other work slows both sides)")


if __name__ == "__main__":
    main()
