"""Time and peak RSS to std-profile a checkpoint vs only reading its attention tensors.

Three measurements, each in a fresh subprocess (so peak RSS is its own), with the page cache
cold (files evicted first) and hot:

- ``read q/k/v/o bytes``: positioned reads of exactly the stored bytes of every layer's
  q/k/v/o, nothing decoded: the floor for any method that looks at those tensors;
- ``read + decode``: the same tensors through ``weights/`` as float32 (bf16 widening, GGUF
  dequantisation, Q/K un-permutation);
- ``std-profile``: ``methods.stdprofile.fingerprint`` (the above, plus the float64 statistic and
  the extra norm/bias profiles).

Goal (issue 6): std-profile within 1.5x of reading the attention tensors. Default targets: the
~1 GB bf16 Llama that ``benchmarks/weights_read.py`` builds under /tmp, and the largest shared
checkpoint (SmolLM2-135M, Q4_1 GGUF), when present.

    python benchmarks/stdprofile_speed.py [MODEL ...]
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_GGUF = HERE.parent.parent / "shared" / "models" / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"

# VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec and would report the parent's peak
_PEAK = "int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]) * 1024"

_SPANS = """
from llm_lineage.weights import open_checkpoint
def spans(target):
    '''(file, offset, length) of every layer's stored q/k/v/o (or packed qkv) bytes.'''
    ckpt = open_checkpoint(target)
    store, out = ckpt.store, []
    keys = [k for (role, layer, _), k in ckpt._roles.items()
            if layer is not None and role in ("q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj")]
    from llm_lineage.weights.stores import GGUFStore

    if isinstance(store, GGUFStore):  # GGUF: tensors are views of one memory map
        for k in keys:
            t = store._tensor(k)
            out.append((str(store.files[0]), int(t.offset), int(store._header.data(t).nbytes)))
    else:
        for k in keys:
            path, start, entry = store._entry(k)
            begin, end = entry["data_offsets"]
            out.append((str(path), start + begin, end - begin))
    return ckpt, out
"""

_READ = _SPANS + """
import sys, time
t = time.perf_counter()
ckpt, spans = spans(sys.argv[1])
n = 0
for path, offset, length in spans:
    with open(path, "rb", buffering=0) as fh:
        fh.seek(offset)
        n += len(fh.read(length))
print(n, time.perf_counter() - t, PEAK)
""".replace("PEAK", _PEAK)

_DECODE = """
import sys, time
from llm_lineage.weights import open_checkpoint
t = time.perf_counter()
ckpt = open_checkpoint(sys.argv[1])
n = 0
for layer in range(ckpt.n_layers):
    for role in ("q_proj", "k_proj", "v_proj", "o_proj"):
        n += ckpt.tensor(role, layer).size
print(n, time.perf_counter() - t, PEAK)
""".replace("PEAK", _PEAK)

_PROFILE = """
import sys, time
from llm_lineage.methods.stdprofile import fingerprint
t = time.perf_counter()
fp = fingerprint(sys.argv[1])
print(fp.sigma.size + fp.extra_sigma.size, time.perf_counter() - t, PEAK)
""".replace("PEAK", _PEAK)

_FILES = _SPANS + """
import sys
print("\\n".join(sorted({p for p, _, _ in spans(sys.argv[1])[1]})))
"""


def _run(code: str, target: str) -> tuple[float, float, float]:
    out = subprocess.run([sys.executable, "-c", code, target], capture_output=True, text=True, check=True)
    n, seconds, peak = (float(x) for x in out.stdout.split()[-3:])
    return n, seconds, peak


def _evict(files: list[str]) -> None:
    """Drop the files from the page cache (no privileges needed for clean pages)."""
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def _synthetic() -> Path:
    spec = importlib.util.spec_from_file_location("weights_read", HERE / "weights_read.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_synthetic(module.SYNTHETIC)


def bench(target: Path, repeats: int = 3) -> None:
    mb = 1 << 20
    files = subprocess.run([sys.executable, "-c", _FILES, str(target)], capture_output=True, text=True,
                           check=True).stdout.split()
    size = sum(Path(f).stat().st_size for f in files)
    print(f"\n{target} ({size / mb:.0f} MB on disk)")
    for cache in ("cold", "hot"):
        rows = {}
        for name, code in (("read q/k/v/o bytes", _READ), ("read + decode", _DECODE), ("std-profile", _PROFILE)):
            best = None
            for _ in range(1 if cache == "cold" else repeats):
                if cache == "cold":
                    _evict(files)
                n, seconds, peak = _run(code, str(target))
                if best is None or seconds < best[1]:
                    best = (n, seconds, peak)
            rows[name] = best
        print(f"  [{cache} page cache{'' if cache == 'cold' else f', best of {repeats}'}]")
        read_bytes = rows["read q/k/v/o bytes"][0]
        for name, (_, seconds, peak) in rows.items():
            print(f"    {name:20s} {seconds:8.3f} s  {read_bytes / mb / seconds:8.0f} MB/s of attention bytes"
                  f"  peak RSS {peak / mb:6.0f} MB")
        base, decode, profile = (rows[k][1] for k in rows)
        print(f"    std-profile / read bytes     {profile / base:6.2f}x   (goal <= 1.5x)")
        print(f"    std-profile / read + decode  {profile / decode:6.2f}x")


def main() -> None:
    targets = [Path(a) for a in sys.argv[1:]]
    if not targets:
        targets = [_synthetic()] + ([SHARED_GGUF] if SHARED_GGUF.is_file() else [])
    for target in targets:
        bench(target)


if __name__ == "__main__":
    main()
