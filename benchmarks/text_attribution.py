"""The ``text`` method over a text-only chat server: derived suspects, and the false-positive rate on
unrelated pairs of the same and of other tokenizers.

Every suspect is served by ``llm-lineage serve``'s app with log-probs hidden (``--no-logprobs``)
and sampled through ``/v1/chat/completions`` on the default plan (100 prompts x temperatures 0.7
and 1.0 = 200 completions of 32 tokens), once; its sample is then tested against each owner.

* Derived: the zoo llama owner (seed 0) against its descendants (``attacks.derive``), with the
  zoo's unrelated llamas (seeds 101-104) and the shared real checkpoints as references.
* Unrelated: every ordered pair of the pool (zoo llamas of seeds 0, 7, 101-104, the zoo qwen2 and
  gpt2 owners: the zoo tokenizer; the shared real checkpoints: other tokenizers), the rest of the
  pool as references.

    LLM_LINEAGE_CACHE=/tmp/llc .venv/bin/python benchmarks/text_attribution.py [--prompts 100]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from llm_lineage import zoo
from llm_lineage.attacks import derive
from llm_lineage.methods.text import TEXT, TextConfig, sample_endpoint
from llm_lineage.outputs.openai_endpoint import OpenAIEndpoint
from llm_lineage.serve import LocalBackend, ServeOptions
from llm_lineage.serve.background import running

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models" / "hf"
ALPHA = 0.01


def served_sample(model: Path, config: TextConfig):
    """``model`` behind a text-only chat server, sampled on ``config``'s plan."""
    with running(LocalBackend(model), ServeOptions(logprobs=False)) as url:
        endpoint = OpenAIEndpoint(url, "m", vocab_size=0, concurrency=4)
        return sample_endpoint(endpoint, config.plan())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=100)
    args = parser.parse_args()
    config = TextConfig(n_prompts=args.prompts, api="chat")
    owner = zoo.build("llama", seed=0, train_steps=300)
    siblings = list(zoo.null_models("llama", train_steps=300))
    shared = [SHARED / name for name in ("aidreams260k", "babyllama-tok105", "babyllama-tok361", "llama2xs",
                                          "stories260k") if (SHARED / name).is_dir()]
    root = zoo.cache_dir().parent / "text-bench"
    attacks = {
        "finetune 30 steps lr 1e-4": ("finetune", {"steps": 30, "lr": 1e-4}),
        "finetune 100 steps lr 1e-4": ("finetune", {"steps": 100, "lr": 1e-4}),
        "finetune 100 steps lr 1e-3": ("finetune", {"steps": 100, "lr": 1e-3}),
        "LoRA qkv r8 lr 2e-4": ("lora-qkv", {"steps": 60, "lr": 2e-4}),
        "LoRA qkv r8 lr 2e-3": ("lora-qkv", {"steps": 60, "lr": 2e-3}),
        "GradNormLoRP r8 30 steps": ("gradnormlorp", {"steps": 30}),
        "quantize 8-bit": ("quantize", {"bits": 8}),
        "quantize 4-bit": ("quantize", {"bits": 4}),
        "prune 10%": ("prune", {"sparsity": 0.1}),
        "prune 30%": ("prune", {"sparsity": 0.3}),
    }
    started = time.perf_counter()
    print(f"plan: {args.prompts} prompts x (0.7, 1.0) = {2 * args.prompts} completions of 32 tokens, chat API, "
          "log-probs hidden\n")
    print(f"{'derived suspect':<28} {'verdict':<13} {'p-value':>9} {'score':>8} {'null':>18}  queries")
    references = [*siblings, *shared]
    for label, (kind, options) in attacks.items():
        suspect = derive(owner, kind, root / label.replace(" ", "-"), **options)
        sample = served_sample(suspect, config)
        r = TEXT.verify(owner, sample, config, references=references)
        print(f"{label:<28} {r.verdict.value:<13} {r.p_value:9.2g} {r.score:8.4f} "
              f"{r.null.mean:8.4f} +- {r.null.std:.4f}  {sample.n_queries}", flush=True)

    pool = {"zoo llama s0": owner, "zoo llama s7": zoo.build("llama", seed=7, train_steps=300),
            **{f"zoo llama s{101 + i}": p for i, p in enumerate(siblings)},
            "zoo qwen2 s0": zoo.build("qwen2", seed=0, train_steps=300),
            "zoo gpt2 s0": zoo.build("gpt2", seed=0, train_steps=300),
            **{path.name: path for path in shared}}
    owners = [name for name in pool if name.startswith("zoo llama")]
    samples = {name: served_sample(path, config) for name, path in pool.items()}
    print(f"\nunrelated ordered pairs (owners: {len(owners)} zoo llamas; suspects: the rest of the pool)")
    counts: dict[str, list[int]] = {"same tokenizer": [0, 0, 0, 0], "other tokenizer": [0, 0, 0, 0]}
    for owner_name in owners:
        for suspect_name, sample in samples.items():
            if suspect_name == owner_name:
                continue
            refs = [p for n, p in pool.items() if n not in (owner_name, suspect_name)]
            r = TEXT.verify(pool[owner_name], sample, config, references=refs)
            group = "same tokenizer" if suspect_name.startswith("zoo") else "other tokenizer"
            counts[group][0] += 1
            counts[group][1] += r.verdict.value == "derived"
            counts[group][2] += r.verdict.value == "inconclusive"
            counts[group][3] += r.verdict.value == "unrelated"
            if r.verdict.value == "derived":
                print(f"  false positive: {suspect_name} against {owner_name}, p = {r.p_value:.2g}")
    total = sum(c[0] for c in counts.values())
    false = sum(c[1] for c in counts.values())
    for group, (n, fp, inc, unrel) in counts.items():
        print(f"{group:<16} pairs {n:3d}  derived {fp:2d}  inconclusive {inc:2d}  unrelated {unrel:2d}")
    print(f"false-positive rate at alpha {ALPHA}: {false}/{total} = {false / total:.1%}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
