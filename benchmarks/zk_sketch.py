"""ezkl sketch proofs: compile, local SRS, setup and proving time and peak memory against sketch size.

Each size runs in a fresh process (peak RSS is the process's). The sketch multiplies ``tokens``
embedding rows by ``rows`` rows of W_Q and W_K (hidden-size columns) and mixes the result:
about 2 * tokens * rows * hidden + tokens^2 * rows multiplications.

    LLM_LINEAGE_CACHE=/tmp/llc .venv/bin/python benchmarks/zk_sketch.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models" / "hf"


def one(model: str, rows: int, tokens: int) -> None:
    from llm_lineage.attest import publish
    from llm_lineage.attest.zk import prove_sketch, verify_sketch

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        publish(model, root / "b", secret_path=root / "s", key_path=root / "k.pem", methods=["std-profile"])
        start = time.perf_counter()
        proof = prove_sketch(model, root / "b", root / "p", key_path=root / "k.pem", rows=rows, n_tokens=tokens)
        total = time.perf_counter() - start
        start = time.perf_counter()
        verify_sketch(root / "b", root / "p")
        verify = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"total_s": round(total, 1), "verify_s": round(verify, 1), "pk_mb": round(proof.proving_key_bytes / 2**20),
                      "peak_mb": round(peak), "logrows": proof.statement["logrows"], **proof.seconds}))


def main() -> None:
    from llm_lineage import zoo
    from llm_lineage.weights import open_checkpoint

    cases = [(zoo.build("llama", seed=0, train_steps=300), 8, 4), (zoo.build("llama", seed=0, train_steps=300), 16, 8)]
    if (SHARED / "llama2xs").is_dir():
        cases.append((SHARED / "llama2xs", 8, 4))
    wide = zoo.build("llama", seed=2000, train_steps=0, hidden_size=384, intermediate_size=1536, num_hidden_layers=6,
                     num_attention_heads=6, num_key_value_heads=2)
    cases.append((wide, 8, 4))
    print(f"{'model':<34} {'hidden':>6} {'rows x tokens':>13} {'mults':>8} {'logrows':>7} {'setup':>6} {'prove':>6} "
          f"{'verify':>6} {'pk MB':>6} {'peak MB':>7}")
    for model, rows, tokens in cases:
        hidden = open_checkpoint(model).config.hidden_size
        done = subprocess.run([sys.executable, __file__, "--one", str(model), str(rows), str(tokens)],
                              capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            print(f"{Path(model).name:<34} failed: {done.stderr.strip().splitlines()[-1][:120]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        mults = 2 * tokens * rows * hidden + tokens * tokens * rows + 2 * tokens * tokens
        print(f"{Path(model).name[:34]:<34} {hidden:6d} {f'{rows} x {tokens}':>13} {mults:8d} {r['logrows']:7d} "
              f"{r['setup']:6.1f} {r['prove']:6.1f} {r['verify_s']:6.1f} {r['pk_mb']:6d} {r['peak_mb']:7d}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
