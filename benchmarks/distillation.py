"""Distillation: which methods see a student that copied the victim's behaviour and none of its weights.

Students of the zoo llama victim (seed 0), each a fresh initialisation of its architecture and
tokenizer trained 300 steps (``attack --kind distill``): on 512 continuations the victim sampled
(``text``), and on the victim's top-5 next-token distributions over those texts (``top-5``). The
control is an unrelated zoo llama (seed 7: same recipe, the corpus itself instead of the victim's
samples). Every method runs with the zoo's unrelated llamas (seeds 101-104) as references:

* the white-box methods through ``check`` (expected: not derived, correctly: no weights were taken);
* the black-box subspace test on full logits (expected: not derived: a fresh lm_head spans another
  space);
* the ``text`` method at 10, 25, 50 and 100 prompts of its versioned set (x 2 temperatures, 32
  tokens each): the owner's per-byte likelihood of the suspect's samples against its closest
  unrelated writers.

    .venv/bin/python benchmarks/distillation.py [--work DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from llm_lineage import zoo
from llm_lineage.attacks import derive
from llm_lineage.check import check
from llm_lineage.methods import get_method
from llm_lineage.methods.text import TEXT

PROMPTS = (10, 25, 50, 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/llm-lineage-distillation"))
    args = parser.parse_args()
    victim = zoo.build("llama", seed=0, train_steps=300)
    references = zoo.null_models("llama", train_steps=300)
    suspects = {"text": derive(victim, "distill", args.work / "text"),
                "top-5": derive(victim, "distill", args.work / "top5", top_k=5),
                "unrelated (control)": zoo.build("llama", seed=7, train_steps=300)}
    print(f"| suspect | white-box (`check`) | subspace | text: {' | '.join(f'{n} prompts' for n in PROMPTS)} |")
    print("|---|---|---|" + "---|" * len(PROMPTS))
    for name, suspect in suspects.items():
        start = time.perf_counter()
        white = check(victim, suspect, references=references)
        methods = ", ".join(f"{t.method} {t.verdict.value if t.verdict else '-'}" for t in white.tests)
        sub = get_method("subspace").verify(victim, suspect, references=references)
        cells = []
        for n in PROMPTS:
            r = TEXT.verify(victim, suspect, config=TEXT.configure(n_prompts=n), references=references)
            cells.append(f"{r.verdict.value} (p {r.p_value:.2g})")
        print(f"| {name} | {white.verdict.value} ({methods}) | {sub.verdict.value} (p {sub.p_value:.2g}) | "
              f"{' | '.join(cells)} |  <!-- {time.perf_counter() - start:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
