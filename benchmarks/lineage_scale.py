"""The family tree and search at 1,000 registered entries, on stored exact-test fingerprints only.

Families of zoo llamas (random initialisations of 2-4 blocks, one seed each), every member derived
from its base the way copies are made: 8- and 4-bit quantisation, 30% pruning, a rotated residual
stream, per-unit scaling, a bfloat16 re-save, and a quantised copy of the pruned child (a
grandchild). Every entry is registered with ``tracing`` (its units and alignment rows stored), then
every registered weight file is deleted, so the tree and search run on fingerprints alone.

Prints: registration time, bytes of stored fingerprints per model, ``registry graph`` time and peak
RSS, recall (parent-child pairs with an edge), precision (edges inside a family), and ``search`` for
copies of registered models (named first, ``derived``, p after the correction for the candidates).
Times at 10^5 entries are extrapolated, and say so.

    .venv/bin/python benchmarks/lineage_scale.py [--families 125] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

import torch

CHILDREN = {"q8": ("quantize", {"bits": 8}), "q4": ("quantize", {"bits": 4}), "pruned": ("prune", {"sparsity": 0.3}),
            "rotated": ("rotate", {"seed": 4}), "scaled": ("scale", {"seed": 5})}


def build(work: Path, families: int) -> dict[str, tuple[Path, str | None, str]]:
    """name -> (model dir, parent name, family)."""
    from llm_lineage import zoo
    from llm_lineage.attacks import derive

    out: dict[str, tuple[Path, str | None, str]] = {}
    for f in range(families):
        fam = f"f{f:03d}"
        base = work / fam / "base"
        if not (base / "config.json").is_file():
            zoo.save(zoo.build_model("llama", seed=10_000 + f, num_hidden_layers=2 + f % 3), base)
        out[f"{fam}-base"] = (base, None, fam)
        for child, (kind, options) in CHILDREN.items():
            out[f"{fam}-{child}"] = (derive(base, kind, work / fam / child, **options), f"{fam}-base", fam)
        bf16 = work / fam / "bf16"
        if not (bf16 / "config.json").is_file():
            zoo.save(zoo.load(base).to(torch.bfloat16), bf16)
        out[f"{fam}-bf16"] = (bf16, f"{fam}-base", fam)
        out[f"{fam}-pruned-q8"] = (derive(work / fam / "pruned", "quantize", work / fam / "pruned-q8", bits=8),
                                   f"{fam}-pruned", fam)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=125)
    parser.add_argument("--work", type=Path, default=Path("/tmp/llm-lineage-lineage-scale"))
    args = parser.parse_args()

    from llm_lineage.registry import Registry
    from llm_lineage.registry.lineage import lineage_graph
    from llm_lineage.registry.search import search
    from llm_lineage.stats import Verdict

    t0 = time.perf_counter()
    models = build(args.work / "models", args.families)
    print(f"{len(models)} models built or reused in {time.perf_counter() - t0:.0f} s")
    registered = args.work / "registered"
    shutil.rmtree(registered, ignore_errors=True)
    path = args.work / "registry.sqlite"
    for stale in args.work.glob("registry.sqlite*"):
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    t0 = time.perf_counter()
    with Registry(path, create=True) as reg:
        for name, (model, parent, _) in models.items():
            copy = Path(shutil.copytree(model, registered / name))
            manifest = copy / "attack.json"
            if parent and manifest.is_file():  # its metadata names the registered copy of its base
                spec = json.loads(manifest.read_text())
                manifest.write_text(json.dumps({**spec, "victim": str((registered / parent).resolve())}))
            reg.add(copy, name=name, methods=["tracing"])
        blobs = sum(reg.blob_path(f.blob).stat().st_size for e in reg.entries() for f in e.fingerprints.values()
                    if f.blob is not None)
    added = time.perf_counter() - t0
    for weights in registered.glob("*/*.safetensors"):  # the registry keeps fingerprints only
        weights.unlink()
    print(f"registered {len(models)} entries in {added:.0f} s ({added / len(models):.2f} s each); weights deleted")
    print(f"stored fingerprints: {blobs / len(models) / 1e3:.0f} KB per model (all blobs, tracing only)")

    t0 = time.perf_counter()
    with Registry(path) as reg:
        graph = lineage_graph(reg, alpha=0.01, methods=["tracing"])
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    truth = {(parent, child) for child, (_, parent, _) in models.items() if parent}
    edges = {frozenset((e.source, e.target)) for e in graph.drawn}
    found = sum(frozenset(pair) in edges for pair in truth)
    family = {name: fam for name, (_, _, fam) in models.items()}
    inside = sum(len({family[n] for n in e}) == 1 for e in edges)
    parents_right = sum(graph.parents.get(child) == parent for parent, child in truth)
    print(f"registry graph: {graph.pairs_tested} pairs tested in {seconds:.0f} s, peak RSS {peak:.0f} MB")
    print(f"recall {found}/{len(truth)} parent-child pairs with an edge; precision {inside}/{len(edges)} edges inside "
          f"one family; the forest names the true parent of {parents_right}/{len(truth)}")
    per_pair = seconds / max(graph.pairs_tested, 1)
    n5 = 10 ** 5
    pairs5 = n5 * (17 + 1) // 2
    print(f"at 10^5 entries (inferred, not measured): about {pairs5:,} pairs ({n5} x (log2 N + 1) / 2) at "
          f"{per_pair * 1e3:.0f} ms a pair: {pairs5 * per_pair / 3600:.1f} core-hours")

    hits, worst = 0, 0.0
    probes = [name for name in models if name.endswith(("-q8", "-rotated"))][:20]
    t0 = time.perf_counter()
    for name in probes:
        result = search(models[name][0], path, methods=["tracing"])
        best = result.candidates[0]
        ok = best.verdict is Verdict.DERIVED and family[best.name] == family[name] and result.verdict is Verdict.DERIVED
        hits += ok
        worst = max(worst, result.p_value)
    print(f"search: {hits}/{len(probes)} copies name a registered member of their family first, derived after the "
          f"correction (largest corrected p {worst:.2g}); {(time.perf_counter() - t0) / len(probes):.1f} s a search")


if __name__ == "__main__":
    main()
