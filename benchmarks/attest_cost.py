"""Cost of attested fingerprints on one model: publish time, and per audited method the share of the
model an opening reveals and the time to open and audit it; peak RSS of the whole run.

    .venv/bin/python benchmarks/attest_cost.py MODEL_DIR [--chunk-bytes N] [--work DIR]

Measured here: ``../shared/models/hf/stories260k`` with ``--chunk-bytes 65536`` and SmolLM2-135M
dequantised to float32 safetensors (``benchmarks/calibration.py`` writes it) with the default
4 MiB chunks (the README's figures).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--chunk-bytes", type=int, default=4 << 20)
    parser.add_argument("--work", type=Path, default=Path("/tmp/llm-lineage-attest"))
    args = parser.parse_args()
    os.environ["LLM_LINEAGE_NO_PROGRESS"] = "1"
    from llm_lineage.attest import audit, open_bundle, publish

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    start = time.perf_counter()
    bundle = publish(args.model, args.work / "bundle", secret_path=args.work / "secret",
                     key_path=args.work / "key.pem", chunk_bytes=args.chunk_bytes)
    print(f"publish: {time.perf_counter() - start:.1f} s, {len(bundle.commitment.leaves)} leaves over "
          f"{bundle.commitment.total_bytes} bytes; skipped: {', '.join(bundle.manifest['skipped']) or 'none'}")
    for method in sorted(bundle.manifest["methods"]):
        start = time.perf_counter()
        opening = open_bundle(args.model, bundle.path, args.work / f"opening-{method}", secret_path=args.work / "secret",
                              methods=[method])
        report = audit(bundle.path, opening)
        print(f"{method}: {report.methods[method]}, {100 * report.share_revealed:.1f}% of the bytes revealed, "
              f"open + audit {time.perf_counter() - start:.1f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
