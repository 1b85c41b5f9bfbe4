"""Malformed and hostile inputs through every command, as separate processes: tracebacks, hangs, memory.

Builds about a hundred malformed inputs from a zoo model (config.json values, safetensors headers,
index files, GGUF headers that lie, owner key files, FIFOs, links to /dev/zero, empty and truncated
files, a pickle) and runs each through ``inspect``, ``fingerprint``, ``compare``, ``verify``,
``registry add``, ``search`` and ``attack``. Prints per command: runs, exit codes, tracebacks, hangs
(past ``--timeout``), and the largest peak RSS of one run; then every run that broke the rule (exit
0, 2 or 3; one ``error:`` line; no traceback; no hang; peak RSS under ``--memory-mb``).

    .venv/bin/python benchmarks/robustness_matrix.py [--work DIR] [--timeout 120] [--memory-mb 1500]
        [--commands inspect,attack]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ODD = [-1, 0, 10 ** 12, "abc", [1], None, 1.5, True]
CONFIG_KEYS = ["hidden_size", "num_attention_heads", "num_key_value_heads", "vocab_size", "num_hidden_layers",
               "intermediate_size", "model_type", "head_dim"]


def cases(victim: Path, work: Path) -> dict[str, Path]:
    """Name -> a malformed model path (directory or file)."""
    out: dict[str, Path] = {}

    def copy(name: str) -> Path:
        target = work / name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        shutil.copytree(victim, target)
        out[name] = target
        return target

    for key in CONFIG_KEYS:
        for value in ODD:
            model = copy(f"config-{key}-{json.dumps(value)}".replace("/", "_"))
            config = json.loads((model / "config.json").read_text())
            config[key] = value
            (model / "config.json").write_text(json.dumps(config))
    weights = (victim / "model.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", weights[:8])
    header_cases = {
        "header-length-0": struct.pack("<Q", 0) + weights[8:],
        "header-length-huge": struct.pack("<Q", 2 ** 62) + weights[8:],
        "header-length-past": struct.pack("<Q", length + 100) + weights[8:],
        "header-not-json": weights[:8] + b"x" * length + weights[8 + length:],
        "truncated-half": weights[: len(weights) // 2],
        "truncated-header": weights[: 8 + length // 2],
        "empty": b"",
    }
    header = json.loads(weights[8:8 + length])
    name = next(k for k in header if k != "__metadata__")
    for label, change in {"dtype-unknown": {"dtype": "F99"}, "shape-negative": {"shape": [-1, 4]},
                          "shape-string": {"shape": ["a"]}, "offsets-past": {"data_offsets": [0, 10 ** 12]},
                          "offsets-overlap": {"data_offsets": [0, 8]}}.items():
        edited = dict(header)
        edited[name] = {**header[name], **change}
        text = json.dumps(edited).encode()
        header_cases[label] = struct.pack("<Q", len(text)) + text + weights[8 + length:]
    for label, data in header_cases.items():
        model = copy(label)
        (model / "model.safetensors").write_bytes(data)
    for label, weight_map in {"index-list": [], "index-int": {"x": 5}, "index-outside": {"x": "../model.safetensors"},
                              "index-absolute": {"x": "/etc/passwd"}, "index-missing": {"x": "missing.safetensors"},
                              "index-directory": {"x": "."}}.items():
        model = copy(label)
        (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    fifo = copy("fifo")
    (fifo / "model.safetensors").unlink()
    os.mkfifo(fifo / "model.safetensors")
    zero = copy("link-dev-zero")
    (zero / "model.safetensors").unlink()
    (zero / "model.safetensors").symlink_to("/dev/zero")
    loop = copy("link-loop")
    (loop / "model.safetensors").unlink()
    (loop / "model.safetensors").symlink_to(loop / "model.safetensors")
    pickled = copy("pickle")
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    for label, (n_tensors, n_kv, dims) in {"gguf-tensors-huge": (2 ** 40, 0, (4,)), "gguf-kv-huge": (0, 2 ** 60, (4,)),
                                           "gguf-dims-overflow": (1, 0, (2 ** 32, 2 ** 32))}.items():
        path = work / f"{label}.gguf"
        body = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv)
        body += struct.pack("<Q", 1) + b"w" + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        path.write_bytes(body + struct.pack("<IQ", 0, 0) + b"\0" * 64)
        out[label] = path
    return out


def run(args: list[str], timeout: float) -> tuple[int | None, str, float, int]:
    """Exit code (None: hang), stderr, seconds, peak RSS in MB of the one child (``os.wait4``)."""
    env = {**os.environ, "LLM_LINEAGE_NO_PROGRESS": "1"}
    start = time.monotonic()
    with open(os.devnull, "wb") as devnull, subprocess.Popen(args, stdout=devnull, stderr=subprocess.PIPE,
                                                             env=env) as proc:
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        err = b""
        while True:
            chunk = proc.stderr.read() or b""
            err += chunk
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                err += proc.stderr.read() or b""
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode, err.decode(errors="replace"), time.monotonic() - start, usage.ru_maxrss // 1024
            if time.monotonic() - start > timeout:
                proc.kill()
                _, _, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                return None, err.decode(errors="replace"), time.monotonic() - start, usage.ru_maxrss // 1024
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/llm-lineage-robustness"))
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--memory-mb", type=int, default=1500)
    parser.add_argument("--commands", default=None, help="Comma-separated subset of the commands (default: all).")
    args = parser.parse_args()
    os.environ.setdefault("LLM_LINEAGE_CACHE", str(args.work / "cache"))
    from llm_lineage import zoo

    victim = zoo.build("llama", seed=0, train_steps=0)
    inputs = args.work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "llm_lineage.cli"]
    registry = args.work / "registry.sqlite"
    subprocess.run([*cli, "registry", "add", str(victim), "--registry", str(registry), "--name", "victim"],
                   capture_output=True, check=False)
    commands = {
        "inspect": lambda p: ["inspect", str(p)],
        "fingerprint": lambda p: ["fingerprint", str(p), "-o", str(args.work / "fp")],
        "compare": lambda p: ["compare", str(victim), str(p), "--method", "pcs"],
        "verify": lambda p: ["verify", "--owner", str(p), "--suspect", str(victim), "--outputs", "4"],
        "registry add": lambda p: ["registry", "add", str(p), "--registry", str(args.work / "scratch.sqlite")],
        "search": lambda p: ["search", str(p), "--registry", str(registry)],
        "attack": lambda p: ["attack", str(p), "--kind", "quantize", "-o", str(args.work / "attacked")],
    }
    if args.commands:
        wanted = [c.strip() for c in args.commands.split(",")]
        commands = {c: commands[c] for c in wanted}
    table: dict[str, Counter[str]] = defaultdict(Counter)
    peak: dict[str, int] = defaultdict(int)
    broken = []
    for label, path in cases(victim, inputs).items():
        for command, make in commands.items():
            code, err, seconds, rss = run([*cli, *make(path)], args.timeout)
            table[command]["runs"] += 1
            table[command][f"exit {code}"] += 1
            peak[command] = max(peak[command], rss)
            traceback = "Traceback" in err
            table[command]["tracebacks"] += traceback
            table[command]["hangs"] += code is None
            first = err.strip().splitlines()[0] if err.strip() else ""
            ok = (code in (0, 2, 3) and not traceback and rss <= args.memory_mb
                  and (code == 0 or first.startswith("error: ")))
            if not ok:
                broken.append((label, command, code, rss, round(seconds, 1), first[:160]))
    print("| command | runs | exit codes | tracebacks | hangs | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    for command, counts in table.items():
        codes = ", ".join(f"{k.removeprefix('exit ')}: {v}" for k, v in sorted(counts.items()) if k.startswith("exit"))
        print(f"| {command} | {counts['runs']} | {codes} | {counts['tracebacks']} | {counts['hangs']} | {peak[command]} |")
    print(f"\n{len(broken)} runs broke the rule")
    for row in broken:
        print("  ", row)


if __name__ == "__main__":
    main()
