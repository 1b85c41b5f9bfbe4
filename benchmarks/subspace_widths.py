"""The subspace test at production widths and vocabularies: queries, wall time and peak RSS of a local check.

Each case is an owner and its bfloat16 re-save (the copy people ship most), checked with defaults
(``verify``: hidden + 32 outputs of full logits, the key's 2 * hidden + 64 tokens) in a fresh
process, as ``llm-lineage verify --owner OWNER --suspect COPY`` would run it:

* the shared SmolLM2-135M-Instruct GGUF (hidden 576, vocab 49,152) against its own bfloat16
  conversion (``weights.gguf_convert``);
* zoo-shaped random llamas (2 blocks, tied embeddings, the zoo tokenizer) of hidden 1024, 2048 and
  4096 with vocabularies of 32,000, 151,936 and 262,144, written once under ``--work``.

The query cost per access mode is a formula (``queries``), checked against the logits runs here
and against ``subspace_queries.py`` for top-k and top-1.

    .venv/bin/python benchmarks/subspace_widths.py [--work DIR] [--cases 576,1024x32000,...]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOLLM = REPO.parent / "shared" / "models" / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"
CASES = ("576", "1024x32000", "2048x151936", "4096x262144")

_RUN = r"""
import json, resource, sys, time
from llm_lineage.methods.subspace import SubspaceConfig, verify
t = time.perf_counter()
r = verify(sys.argv[1], sys.argv[2], SubspaceConfig())
print(json.dumps({"verdict": r.graded_verdict, "queries": r.n_queries, "outputs": r.n_outputs, "tokens": r.n_tokens,
                  "seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def queries(access: str, hidden: int, top_k: int = 5) -> int:
    """Queries of a default check: N = hidden + 32 prompts over |T| = 2 hidden + 64 tokens.

    logits or full log-probs: one per prompt; top-k with ``logit_bias``: one unbiased query for the
    reference token, then k - 1 tokens per query; top-1 with ``logit_bias``: one per token, plus the
    reference (re-asked tokens add a few percent).
    """
    n, t = hidden + 32, 2 * hidden + 64
    return {"logits": n, "topk": n * (1 + math.ceil(t / (top_k - 1))), "top1": n * (1 + t)}[access]


def random_owner(work: Path, hidden: int, vocab: int) -> tuple[Path, Path]:
    """A random zoo-shaped llama of this width and vocabulary, and its bfloat16 re-save."""
    import torch

    from llm_lineage import zoo

    owner, copy = work / f"llama-{hidden}x{vocab}", work / f"llama-{hidden}x{vocab}-bf16"
    if not (copy / "config.json").is_file():
        model = zoo.build_model("llama", seed=0, hidden_size=hidden, intermediate_size=2 * hidden,
                                num_attention_heads=hidden // 128, num_key_value_heads=max(1, hidden // 512),
                                vocab_size=vocab, tie_word_embeddings=True)
        zoo.save(model, owner)
        zoo.save(model.to(torch.bfloat16), copy)
        del model
    return owner, copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/llm-lineage-widths"))
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print("| hidden | vocab | outputs x tokens | queries (formula) | forward passes | wall time | peak RSS | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        if case == "576":
            from llm_lineage.weights.gguf_convert import gguf_to_hf

            owner, copy, hidden, vocab = SMOLLM, args.work / "smollm2-bf16", 576, 49152
            if not (copy / "config.json").is_file():
                gguf_to_hf(SMOLLM, copy, dtype="bfloat16")
        else:
            hidden, vocab = (int(x) for x in case.split("x"))
            owner, copy = random_owner(args.work, hidden, vocab)
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _RUN, str(owner), str(copy)], capture_output=True, text=True)
        if done.returncode:
            print(f"| {hidden} | {vocab} | failed: {done.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        chains = math.ceil(r["outputs"] / 13)
        print(f"| {hidden} | {vocab:,} | {r['outputs']} x {r['tokens']} | {r['queries']} ({queries('logits', hidden)}) "
              f"| about {chains} | {r['seconds']:.0f} s ({time.perf_counter() - t0:.0f} s with start-up) | "
              f"{r['peak_mb']:.0f} MB | {r['verdict']} |", flush=True)
    print("\nper access mode at each width (formula):")
    for hidden in (576, 1024, 2048, 4096):
        print(f"  hidden {hidden}: logits {queries('logits', hidden):,}, top-5 {queries('topk', hidden):,}, "
              f"top-1 {queries('top1', hidden):,}")


if __name__ == "__main__":
    main()
