"""Registry search timing: register N zoo-size models, time the shortlist step at N = 50, 100, 200.

Models are random-init zoo llamas (seeds 0..199; no training: only timing is measured), registered
with the summary only (``methods=[]``) so the figure is the shortlist step the issue asks about.
Goal: under 2 s at N=200, growing no worse than linearly.

    LLM_LINEAGE_CACHE=/tmp/llc .venv/bin/python benchmarks/registry_search.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from llm_lineage import zoo
from llm_lineage.registry import Registry
from llm_lineage.registry.search import shortlist
from llm_lineage.registry.summary import embedding_rows
from llm_lineage.weights import open_checkpoint


def main() -> None:
    suspect_rows, _ = embedding_rows(open_checkpoint(zoo.build("llama", seed=0, train_steps=300)))
    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(Path(tmp) / "bench.sqlite", create=True)
        t0 = time.perf_counter()
        for n_target in (50, 100, 200):
            while len(reg) < n_target:
                seed = 1000 + len(reg)
                reg.add(zoo.build("llama", seed=seed, train_steps=0), name=f"llama-{seed}", methods=[])
            runs = []
            for _ in range(5):
                runs.append(shortlist(Registry(reg.path), suspect_rows, size=10).seconds)
            print(f"N={n_target:4d}  shortlist {statistics.median(runs) * 1000:8.2f} ms (median of 5)  "
                  f"registry built so far in {time.perf_counter() - t0:6.1f} s", flush=True)
        reg.close()


if __name__ == "__main__":
    main()
