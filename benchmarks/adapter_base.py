"""``adapter-base``: is a LoRA adapter's base found from its ``B @ A`` deltas alone, and how often is
an unrelated model accused?

Zoo llamas (hidden 64), rank-8 LoRA adapters (peft's default initialisation, seeded):

* **Power.** Adapters trained on the victim (seed 0) and on its 300-step fine-tune, for 10, 30 and
  100 steps on q/k/v and for 30 steps on every projection, each tested against the victim.
* **False positives.** Six adapters (LoRA seeds 1-6, 30 steps on q/k/v) on each of five unrelated
  llamas of the victim's recipe (seeds 7 and 101-104), each tested against the victim and the four
  other unrelated llamas: 150 pairs. Every adapter has its own initialisation: adapters sharing
  one ``A`` initialisation give correlated tests, which would make a count of rejections mislead.
* **Real.** With ``--smollm DIR`` (SmolLM2-135M as float32 safetensors): adapters of 10 steps on
  q/v (LoRA seeds 0 and 1), trained on it and tested against it.

999 permutations (p floor 0.001), alpha 0.01.

    .venv/bin/python benchmarks/adapter_base.py [--work DIR] [--smollm DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from llm_lineage import zoo
from llm_lineage.adapter_base import adapter_base
from llm_lineage.attacks import derive
from llm_lineage.attacks.lora import train_adapter

ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
POWER = [("q/k/v", None, 10), ("q/k/v", None, 30), ("q/k/v", None, 100), ("all projections", ALL, 30)]
UNRELATED_SEEDS = (7, *zoo.NULL_SEEDS)
ADAPTER_SEEDS = range(1, 7)


def _adapter(base: Path, folder: Path, **training) -> Path:
    if not (folder / "adapter_model.safetensors").is_file():
        train_adapter(base, folder, **training)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/llm-lineage-adapter-base"))
    parser.add_argument("--smollm", type=Path, default=None)
    args = parser.parse_args()
    victim = zoo.build("llama", seed=0, train_steps=300)
    print("| adapter trained on | targets | steps | against the victim | p | z | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, base in (("victim", victim), ("victim's fine-tune", derive(victim, "finetune", args.work / "finetune"))):
        for targets_name, targets, steps in POWER:
            tag = targets_name.replace(" ", "-").replace("/", "")
            folder = _adapter(base, args.work / f"{base.name}-{tag}-{steps}", targets=targets, steps=steps)
            start = time.perf_counter()
            test = adapter_base(folder, [victim], progress=False).candidates[0]
            print(f"| {name} | {targets_name} | {steps} | {test.verdict.value} | {test.p_value:.3g} | {test.z:.1f} "
                  f"| {time.perf_counter() - start:.1f} |")

    models = {0: victim, **{s: zoo.build("llama", seed=s, train_steps=300) for s in UNRELATED_SEEDS}}
    p_values = []
    for seed in UNRELATED_SEEDS:
        for lora_seed in ADAPTER_SEEDS:
            folder = _adapter(models[seed], args.work / f"unrelated-{seed}-lora{lora_seed}", steps=30, seed=lora_seed)
            result = adapter_base(folder, [m for s, m in models.items() if s != seed], progress=False)
            p_values += [c.p_value for c in result.candidates]
    n = len(p_values)
    print(f"\nunrelated pairs: {n}; p < 0.05: {sum(p < 0.05 for p in p_values)} (expected {0.05 * n:.1f}); "
          f"p < 0.01: {sum(p < 0.01 for p in p_values)} (expected {0.01 * n:.1f}); "
          f"mean p {sum(p_values) / n:.3f} (expected 0.5)")

    if args.smollm is not None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.smollm)
        for seed in (0, 1):
            folder = _adapter(args.smollm, args.work / f"smollm2-qv-10-seed{seed}", targets=["q_proj", "v_proj"],
                              steps=10, lr=1e-3, seed=seed, tokenizer=tokenizer, batch_size=8)
            start = time.perf_counter()
            test = adapter_base(folder, [args.smollm], progress=False).candidates[0]
            print(f"SmolLM2-135M, q/v, 10 steps, LoRA seed {seed}: {test.verdict.value}, p {test.p_value:.3g}, "
                  f"z {test.z:.1f}, {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
