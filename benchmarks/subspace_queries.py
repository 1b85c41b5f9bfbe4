"""Queries the subspace test needs through a top-5 log-prob API with logit_bias (issue 3).

Goal: tell a copy of the owner from an unrelated model with about ``(hidden_size + 64) / 4``
queries, instead of the paper's protocol of ``vocab_size / 4`` queries per prompt (reconstructing
the whole vocabulary four tokens at a time). The key's test needs only ``|T| = hidden_size + 64``
tokens of one output: top-5 reconstructs 4 of them per query against the argmax.

Run: ``LLM_LINEAGE_CACHE=/tmp/llc python benchmarks/subspace_queries.py``
"""

from __future__ import annotations

import time

from llm_lineage import zoo
from llm_lineage.methods.subspace import SubspaceConfig, owner_key, verify
from llm_lineage.outputs import LocalModel, SimulatedAPI
from llm_lineage.weights import open_checkpoint

TOP_K = 5


def main() -> None:
    owner = zoo.build("llama", seed=0, train_steps=300)
    suspects = {"copy": owner, "unrelated llama": zoo.build("llama", seed=7, train_steps=300),
                "unrelated qwen2": zoo.build("qwen2", seed=3, train_steps=300)}
    ckpt = open_checkpoint(owner)
    hidden, vocab = ckpt.config.hidden_size, ckpt.config.vocab_size
    key = owner_key(ckpt)
    goal = (hidden + 64) / 4
    paper = vocab / 4  # per prompt
    print(f"owner {ckpt.name}: hidden_size {hidden}, vocab_size {vocab}; top-{TOP_K} log-probs with logit_bias")
    print(f"goal: about (hidden_size + 64) / 4 = {goal:.0f} queries; paper's protocol: vocab_size / 4 = {paper:.0f} "
          "per prompt\n")
    header = f"{'suspect':18s} {'decimals':>8s} {'outputs':>7s} {'tokens':>6s} {'queries':>7s} {'verdict':>12s} " \
             f"{'median residual':>15s} {'vs paper':>8s} {'seconds':>7s}"
    print(header)
    for n_outputs, n_tokens in ((1, hidden + 64), (2, hidden + 64), (hidden + 32, None)):
        for decimals in (None, 4):
            for name, path in suspects.items():
                api = SimulatedAPI(LocalModel(path), "topk", top_k=TOP_K, decimals=decimals)
                start = time.perf_counter()
                result = verify(key, api, SubspaceConfig(access="topk", top_k=TOP_K, n_outputs=n_outputs,
                                                         n_tokens=n_tokens))
                seconds = time.perf_counter() - start
                ratio = result.n_queries / (paper * n_outputs)
                print(f"{name:18s} {str(decimals):>8s} {result.n_outputs:7d} {result.n_tokens:6d} "
                      f"{result.n_queries:7d} {result.verdict.value:>12s} "
                      f"{result.compatibility.median_residual:15.3g} {ratio:8.3f} {seconds:7.2f}")
        print()
    print("'vs paper' = queries / (vocab_size / 4 * outputs): the share of the paper's query budget spent.")


if __name__ == "__main__":
    main()
