"""Hub scale: the shortlist over 10^5 summary vectors on SQLite and PostgreSQL, the registry's write
rate, and ``add-many`` of 64 zoo-size models at 1 and 2 workers (with Ray's per-model overhead).

Part 1 inserts N synthetic entries (random unit summary vectors of the real width, 2,016 floats for
64 token ids) in bulk into a SQLite file and into a PostgreSQL database on a server started here
(``llm_lineage.testing.temporary_postgres``; Debian's ``postgresql``), then times ``shortlist``
for a zoo model's embedding: the first call reads the summary index (one query), later calls are
the exact scan over the in-memory index. Goal: under 100 ms per shortlist at N = 10^5.

Part 2 registers 64 random-init llamas with ``add_many``, at zoo size and wider: in process (1
worker), on a one-CPU local Ray cluster (the same serial work plus Ray's costs, so the difference
per model is Ray's overhead) and on a two-worker local Ray cluster, workers started and the
package imported before the clock starts. Goal: close to 2x from 1 to 2 workers.

    LLM_LINEAGE_CACHE=/tmp/llc .venv/bin/python benchmarks/registry_scale.py [--entries 100000] [--models 64]
        [--sizes zoo,wider]   (--entries 0: only part 2)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from llm_lineage import zoo
from llm_lineage.registry import Registry
from llm_lineage.registry.many import add_many
from llm_lineage.registry.search import shortlist
from llm_lineage.registry.summary import Summary, embedding_rows, token_ids_for
from llm_lineage.weights import open_checkpoint

BATCH = 5000  # entries per insert transaction


def _fill(reg: Registry, n: int, vocab_size: int) -> float:
    """Insert ``n`` synthetic summarised entries; return entries per second."""
    rng = np.random.default_rng(0)
    ids = token_ids_for(vocab_size)
    width = len(ids) * (len(ids) - 1) // 2
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        vectors = rng.standard_normal((min(BATCH, n - first), width)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        reg.insert_many([(f"synthetic-{first + i:06d}", {"added_at": "2026-12-02T00:00:00Z"},
                          Summary(ids, v, "embed_tokens"), {}) for i, v in enumerate(vectors)])
    return n / (time.perf_counter() - start)


def _time_shortlist(location: str, rows: np.ndarray) -> tuple[float, float]:
    """(first call in a new process's registry handle, median of 9 later calls), in seconds."""
    with Registry(location) as reg:
        first = shortlist(reg, rows, size=10).seconds
        later = [shortlist(reg, rows, size=10).seconds for _ in range(9)]
    return first, statistics.median(later)


def shortlist_side_by_side(n: int) -> None:
    from llm_lineage.testing import PostgresUnavailable, temporary_postgres

    suspect = open_checkpoint(zoo.build("llama", seed=0, train_steps=300))
    rows, _ = embedding_rows(suspect)
    m = len(token_ids_for(rows.shape[0]))
    print(f"shortlist over N = {n:,} summary vectors of {m * (m - 1) // 2:,} floats")
    print(f"{'backend':<12} {'insert rate':>14} {'first (reads index)':>20} {'shortlist':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        backends = [("sqlite", lambda: str(Path(tmp) / "scale.sqlite"))]
        try:
            server_cm = temporary_postgres()
            server = server_cm.__enter__()
            backends.append(("postgresql", server.new_database))
        except PostgresUnavailable as exc:
            server_cm = None
            print(f"postgresql   skipped: {exc}")
        try:
            for backend, where in backends:
                location = where()
                with Registry(location, create=True) as reg:
                    rate = _fill(reg, n, rows.shape[0])
                first, warm = _time_shortlist(location, rows)
                print(f"{backend:<12} {rate:>9,.0f} /s {first * 1000:>17.0f} ms {warm * 1000:>9.1f} ms", flush=True)
        finally:
            if server_cm is not None:
                server_cm.__exit__(None, None, None)


SIZES = {"zoo": {},  # hidden 64, 2 layers: 0.4 MB a model
         "wider": {"hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6,
                   "num_attention_heads": 6, "num_key_value_heads": 2}}  # 17 MB a model


def _warm_up(ray) -> None:
    """Start every worker and import the package there, as a long-running cluster has."""
    def load() -> int:
        import llm_lineage.registry.store  # noqa: F401

        return 0

    task = ray.remote(num_cpus=1)(load)
    ray.get([task.remote() for _ in range(int(ray.cluster_resources().get("CPU", 1)))])


def add_many_scaling(n_models: int, size: str) -> None:
    import ray

    models = [zoo.build("llama", seed=2000 + i, train_steps=0, **SIZES[size]) for i in range(n_models)]
    print(f"\nadd-many of {n_models} {size}-size models (every method registry add runs by default)")
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, workers, ray_cpus in (("in process, 1 worker", 1, None), ("Ray, 1 CPU", 2, 1),
                                         ("Ray, 2 workers", 2, 2)):
            if ray_cpus is not None:
                ray.init(num_cpus=ray_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
                _warm_up(ray)
            with Registry(Path(tmp) / f"{label.replace(' ', '-').replace(',', '')}.sqlite", create=True) as reg:
                start = time.perf_counter()
                report = add_many(reg, models, workers=workers)
                times[label] = time.perf_counter() - start
                assert not report.failed, report.failed
            if ray_cpus is not None:
                ray.shutdown()
            print(f"{label:<22} {times[label]:7.1f} s  {n_models / times[label] * 3600:8.0f} models/hour", flush=True)
    serial, one_cpu, two = times["in process, 1 worker"], times["Ray, 1 CPU"], times["Ray, 2 workers"]
    print(f"speed-up 1 -> 2 workers: {serial / two:.2f}x (over in process), {one_cpu / two:.2f}x (over Ray on 1 CPU)")
    print(f"Ray's overhead per model (1 CPU vs in process): {(one_cpu - serial) / n_models * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=64)
    parser.add_argument("--sizes", default="zoo,wider", help="comma-separated: zoo, wider")
    args = parser.parse_args()
    if args.entries:
        shortlist_side_by_side(args.entries)
    for size in args.sizes.split(","):
        add_many_scaling(args.models, size)


if __name__ == "__main__":
    main()
