"""Stylometry on the models here: closed-set accuracy per model and open-set rejection of models
left out of training.

Models: zoo llamas trained on stories (seed 0) and on manuals (seed 3), the zoo qwen2 and gpt2
owners (stories, the zoo tokenizer), and the shared real checkpoints (TinyStories-style models of
other tokenizers). Each writes 4 training samples per coding prompt (40 prompts, 64 tokens,
temperature 0.8) and a 5th, fresh one for testing. None of them was trained on code: what they
write for a coding prompt is their kind of text, and that is what is attributed here.

* closed set: train on all, attribute each model's 40 fresh texts one by one (accuracy) and as a
  set (the decision);
* open set: train on all but one, attribute the left-out model's fresh texts (share "unknown"
  one by one; the set's decision).

    LLM_LINEAGE_CACHE=/tmp/llc .venv/bin/python benchmarks/stylometry.py
"""

from __future__ import annotations

import time
from pathlib import Path

from llm_lineage import zoo
from llm_lineage.methods.text.sample import sample_local
from llm_lineage.stylometry import attribute, code_plan, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models" / "hf"


def main() -> None:
    started = time.perf_counter()
    models = {"zoo-llama-stories": zoo.build("llama", seed=0, train_steps=300),
              "zoo-llama-manuals": zoo.build("llama", seed=3, train_steps=300, domain="manuals"),
              "zoo-qwen2": zoo.build("qwen2", seed=0, train_steps=300),
              "zoo-gpt2": zoo.build("gpt2", seed=0, train_steps=300),
              **{name: SHARED / name for name in ("stories260k", "babyllama-tok361", "llama2xs", "aidreams260k")
                 if (SHARED / name).is_dir()}}
    samples, fresh = {}, {}
    for name, path in models.items():
        sample = sample_local(path, code_plan(samples_per_prompt=5))
        rows = list(zip(sample.prompt_index.tolist(), sample.completions, strict=True))
        samples[name], fresh[name] = rows[:-40], {f"{name}-{i}": text for i, (_, text) in enumerate(rows[-40:])}

    classifier, report = train(samples)
    print(f"closed set: {len(models)} models, {report.n_train} training texts, {report.n_held_out} held out")
    print(f"{'model':<20} {'held-out acc':>12} {'fresh acc':>10} {'fresh kept':>11} {'set decision':>20}")
    for name in models:
        each, overall = attribute(classifier, fresh[name])
        accuracy = sum(a.ranking[0][0] == name for a in each) / len(each)
        kept = sum(a.decision == name for a in each) / len(each)
        print(f"{name:<20} {report.held_out_accuracy[name]:12.2f} {accuracy:10.2f} {kept:11.2f} "
              f"{overall.decision:>20}")

    print("\nopen set: each model left out of training, its fresh texts attributed")
    print(f"{'left out':<20} {'unknown (each)':>15} {'set decision':>20}")
    for name in models:
        rest = {k: v for k, v in samples.items() if k != name}
        classifier, _ = train(rest)
        each, overall = attribute(classifier, fresh[name])
        print(f"{name:<20} {sum(a.decision == 'unknown' for a in each) / len(each):15.2f} {overall.decision:>20}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
