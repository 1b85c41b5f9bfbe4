"""The black-box subspace test on perturbed lm_heads and on unrelated models of one tokenizer, measured.

Derived suspects: the real third-party Q8_0 copy of ``stories260k`` (full logits and top-5 with
``logit_bias``), ``stories260k`` with its tied lm_head quantised to 8/4/3 bits (groups of 32), and
the zoo victim (llama, seed 0) after: every matrix and the lm_head quantised to 8/6/4/3 bits, 10%/30% of the lm_head
pruned by magnitude, full fine-tunes of 10/50/200 steps at learning rates 1e-4 and 1e-3, LoRA on
the lm_head at ranks 8 and 32, and every block matrix quantised to 8 bits (head untouched).
References for the language-model null: the zoo models of seeds 101-104 (the zoo's tokenizer) and
``llama2xs`` (``stories260k``'s tokenizer).

Unrelated pairs with a shared tokenizer: every ordered pair of six zoo llamas (seeds 0, 7, 101-104),
each with the other four as references, and ``stories260k`` / ``llama2xs`` both ways (no third model of
tok512 exists here, so those are inconclusive by design). Prints the table of the README and the
false-positive rate at alpha 0.01, each with references and with none (the column "no references":
what an owner with only their own model gets: exact copies at shipping precisions, low-rank changes
and the width rule decide; the rest is inconclusive).

    .venv/bin/python benchmarks/subspace_perturbed.py [--work DIR]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HF = REPO.parent / "shared" / "models" / "hf"
SEEDS = (0, 7, 101, 102, 103, 104)


def change_head(src: Path, out: Path, *, sparsity: float = 0.0, bits: int | None = None) -> Path:
    """``src`` with its lm_head (tied: the embedding too) pruned by magnitude or quantised in groups
    of 32, nothing else changed."""
    import torch
    from transformers import AutoTokenizer

    from llm_lineage import zoo
    from llm_lineage.attacks.prune import magnitude_mask
    from llm_lineage.attacks.quantize import quantize_dequantize

    if out.is_dir():
        return out
    model = zoo.load(src)
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        if sparsity:
            head.mul_(magnitude_mask(head, sparsity))
        if bits is not None:
            head.copy_(quantize_dequantize(head, bits, 32).to(head.dtype))
    return zoo.save(model, out, tokenizer_object=AutoTokenizer.from_pretrained(src))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/llm-lineage-subspace-perturbed"))
    args = parser.parse_args()
    os.environ.setdefault("LLM_LINEAGE_CACHE", str(args.work / "cache"))
    os.environ["LLM_LINEAGE_NO_PROGRESS"] = "1"
    os.environ.pop("LLM_LINEAGE_REFERENCES", None)  # the references are named below, nothing else

    from llm_lineage import zoo
    from llm_lineage.attacks import derive
    from llm_lineage.methods.subspace import SubspaceConfig
    from llm_lineage.methods.subspace.method import verify
    from llm_lineage.outputs.local import LocalModel, SimulatedAPI
    from llm_lineage.stats import Verdict

    zoo_models = {seed: zoo.build("llama", seed=seed, train_steps=300) for seed in SEEDS}
    victim, zoo_refs = zoo_models[0], [zoo_models[s] for s in (101, 102, 103, 104)]
    work = args.work / "suspects"

    def zoo_attack(kind: str, name: str, **options) -> Path:
        return derive(victim, kind, work / name, **options)

    derived: list[tuple[str, Path, object, list[Path]]] = [
        ("stories260k-q80 (real Q8_0 copy), logits", HF / "stories260k", HF / "stories260k-q80", [HF / "llama2xs"]),
        ("stories260k-q80, top-5 + logit_bias", HF / "stories260k", "topk:" + str(HF / "stories260k-q80"),
         [HF / "llama2xs"]),
    ]
    for bits in (8, 4, 3):
        derived.append((f"stories260k, tied lm_head {bits}-bit", HF / "stories260k",
                        change_head(HF / "stories260k", work / f"stories-head-q{bits}", bits=bits), [HF / "llama2xs"]))
    for bits in (8, 6, 4, 3):
        derived.append((f"zoo, lm_head {bits}-bit", victim, zoo_attack("quantize", f"head-q{bits}", bits=bits,
                        group_size=32, include_embeddings=True, include_head=True), zoo_refs))
    for sparsity in (0.1, 0.3):
        derived.append((f"zoo, lm_head pruned {sparsity:.0%}", victim,
                        change_head(victim, work / f"head-pruned-{sparsity}", sparsity=sparsity), zoo_refs))
    for lr in (1e-4, 1e-3):
        for steps in (10, 50, 200):
            derived.append((f"zoo, fine-tune {steps} steps lr {lr:g}", victim,
                            zoo_attack("finetune", f"ft-{steps}-{lr:g}", steps=steps, lr=lr), zoo_refs))
    for rank in (8, 32):
        derived.append((f"zoo, LoRA on lm_head rank {rank}", victim,
                        zoo_attack("lora-head", f"lora-head-{rank}", rank=rank, steps=50), zoo_refs))
    derived.append(("zoo, blocks 8-bit (head exact)", victim, zoo_attack("quantize", "blocks-q8", bits=8), zoo_refs))

    def run(owner: Path, suspect, refs: list[Path]):
        if isinstance(suspect, str) and suspect.startswith("topk:"):
            source = SimulatedAPI(LocalModel(suspect.removeprefix("topk:")), "topk", top_k=5)
            config = SubspaceConfig(access="topk", top_k=5)
        else:
            source, config = LocalModel(suspect), SubspaceConfig()
        start = time.perf_counter()
        result = verify(owner, source, config, references=refs)
        return result, time.perf_counter() - start

    print("| suspect | median residual | lm_head change (estimate) | verdict (grade) | p-value | no references | queries |")
    print("|---|---|---|---|---|---|---|")
    for label, owner, suspect, refs in derived:
        result, _ = run(owner, suspect, refs)
        alone, _ = run(owner, suspect, [])
        change = result.perturbation
        size = f"{100 * change.relative_change:.2g}%" + (f" (~{change.bits_equivalent}-bit)"
                                                         if change.bits_equivalent else "")
        grade = f" ({result.grade.split(':')[0]})" if result.grade else ""
        print(f"| {label} | {result.compatibility.median_residual:.3g} | {size} | {result.verdict.value}{grade} | "
              f"{result.p_value:.2g} | {alone.graded_verdict} | {result.n_queries} |")

    unrelated = [(zoo_models[a], zoo_models[b], [zoo_models[s] for s in SEEDS if s not in (a, b)][:4])
                 for a, b in itertools.permutations(SEEDS, 2)]
    unrelated += [(HF / "stories260k", HF / "llama2xs", []), (HF / "llama2xs", HF / "stories260k", [])]
    n = len(unrelated)
    for with_refs in (True, False):
        counts = {v: 0 for v in Verdict}
        for owner, suspect, refs in unrelated:
            result, _ = run(owner, suspect, refs if with_refs else [])
            counts[result.verdict] += 1
        print(f"\nunrelated pairs with a shared tokenizer, {'with' if with_refs else 'no'} references: {n}; derived "
              f"{counts[Verdict.DERIVED]} (false-positive rate {counts[Verdict.DERIVED] / n:.3f} at alpha 0.01), "
              f"unrelated {counts[Verdict.UNRELATED]}, inconclusive {counts[Verdict.INCONCLUSIVE]}")


if __name__ == "__main__":
    main()
