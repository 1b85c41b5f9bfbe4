"""Seconds per attack on the zoo victim (derive: load, attack, save), and per evaluated pair.

Run: LLM_LINEAGE_CACHE=/tmp/llc python benchmarks/attacks_speed.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from llm_lineage import zoo
from llm_lineage.attacks import derive
from llm_lineage.evaluation import parse_attacks


def main() -> None:
    victim = zoo.build("llama", seed=0, train_steps=300)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'attack':45s} seconds")
        for spec in parse_attacks("all"):
            t0 = time.perf_counter()
            derive(victim, spec.kind, Path(tmp) / spec.label.replace(":", "_"), **spec.options)
            print(f"{spec.label:45s} {time.perf_counter() - t0:7.2f}")


if __name__ == "__main__":
    main()
