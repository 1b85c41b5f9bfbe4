"""Malformed and hostile inputs through every command, as separate processes: tracebacks, hangs, memory.

Builds about 140 malformed inputs from a zoo model (config.json values, safetensors headers,
index files, GGUF headers that lie, FIFOs, links to /dev/zero, empty and truncated files, a pickle;
and well-formed files with wrong contents: GGUF metadata keys missing or zero, owner key files with
entries missing or of the wrong type, shape or finiteness, garbage tokenizer.json, a config that
disagrees with its tensors, non-finite and all-zero weights, a lone tensor) and runs each through
``inspect``, ``fingerprint``, ``compare``, ``verify``, ``registry add``, ``search`` and ``attack``.
Prints per command: runs, exit codes, tracebacks, hangs (past ``--timeout``), silent acceptances
(exit 0 on wrong contents), and the largest peak RSS of one run; then every run that broke the
rule (exit 0, 2 or 3, never 0 on wrong contents; one ``error:`` line; no traceback; no hang;
peak RSS under ``--memory-mb``).

    .venv/bin/python benchmarks/robustness_matrix.py [--work DIR] [--timeout 120] [--memory-mb 1500]
        [--commands inspect,attack] [--cases gguf-,key-,tokenizer-,content-,link-loop]
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
    out.update(content_cases(victim, work, copy))
    return out


# inputs whose files are well formed but whose contents are wrong: the commands named must refuse
# them (exit 2, one line naming what is wrong), None meaning all; exit 0 there is a silent
# acceptance. Non-finite values are found as tensors are read (no second pass over the weights),
# so only the commands that read every tensor must see them.
MUST_REFUSE: dict[str, tuple[str, ...] | None] = {
    "gguf-": None, "key-": None, "tokenizer-": None, "content-hidden": None, "content-qwen2": None,
    "content-gpt2": None, "content-lone": None, "content-zero": ("fingerprint", "verify", "registry add"),
    "content-nan": ("fingerprint", "registry add", "attack"), "content-inf": ("fingerprint", "registry add", "attack"),
}


def must_refuse(label: str, command: str) -> bool:
    return any(label.startswith(prefix) and (commands is None or command in commands)
               for prefix, commands in MUST_REFUSE.items())


def content_cases(victim: Path, work: Path, copy) -> dict[str, Path]:
    """GGUF metadata, owner key files, tokenizer bytes, config-vs-tensor disagreements, non-finite values."""
    import contextlib
    from unittest import mock

    import gguf
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    from llm_lineage.serve.gguf_export import export_gguf

    out: dict[str, Path] = {}
    for label, patches in {
        "gguf-no-embedding-length": {"add_embedding_length": lambda self, n: None},
        "gguf-arch-without-keys": {"add_architecture": lambda self: self.add_string("general.architecture", "evil")},
        "gguf-head-count-0": {"add_head_count": lambda self, n: self.add_uint32(f"{self.arch}.attention.head_count", 0)},
    }.items():
        with contextlib.ExitStack() as stack:
            for name, fn in patches.items():
                stack.enter_context(mock.patch.object(gguf.GGUFWriter, name, fn))
            out[label] = export_gguf(victim, work / f"{label}.gguf")

    key = work / "owner-key.safetensors"
    subprocess.run([sys.executable, "-m", "llm_lineage.cli", "fingerprint", str(victim), "-o", str(key),
                    "--methods", "subspace,pcs"], capture_output=True, check=True)
    with safe_open(str(key), framework="numpy") as handle:
        doc = json.loads(handle.metadata()["llm_lineage"])
    tensors = load_file(str(key))

    def key_file(label: str, edit_doc=None, edit_tensors=None) -> None:
        d, t = json.loads(json.dumps(doc)), dict(tensors)
        if edit_doc:
            edit_doc(d)
        if edit_tensors:
            edit_tensors(t)
        path = work / f"{label}.safetensors"
        text = json.dumps(d)
        save_file(t, str(path), metadata={"llm_lineage": text})
        path.with_suffix(".json").write_text(text)
        out[label] = path

    key_file("key-no-fingerprints", edit_doc=lambda d: d.pop("fingerprints"))
    key_file("key-no-basis", edit_tensors=lambda t: t.pop("subspace/basis"))
    key_file("key-hidden-size-string",
             edit_doc=lambda d: d["fingerprints"]["subspace"]["fields"].update(hidden_size="64"))
    key_file("key-basis-few-rows", edit_tensors=lambda t: t.update({"subspace/basis": t["subspace/basis"][:3]}))
    key_file("key-basis-nan", edit_tensors=lambda t: t.update(
        {"subspace/basis": np.where(np.arange(t["subspace/basis"].size).reshape(t["subspace/basis"].shape) == 0,
                                    np.nan, t["subspace/basis"])}))

    for label, data in {"tokenizer-random-bytes": os.urandom(4096),
                        "tokenizer-wrong-shape": json.dumps({"model": {"type": "BPE", "vocab": "x", "merges": 5}}).encode(),
                        "tokenizer-json-string": b'"just a string"'}.items():
        model = copy(label)
        (model / "tokenizer.json").write_bytes(data)
        out[label] = model

    config = json.loads((victim / "config.json").read_text())
    weights = load_file(str(victim / "model.safetensors"))
    embed = next(k for k in weights if "embed_tokens" in k)
    q0 = next(k for k in weights if "layers.0." in k and "q_proj" in k)
    ffn = next(k for k in weights if "layers.0." in k and "down_proj" in k)

    def model_with(label: str, *, tensors=None, config_edit=None) -> None:
        model = copy(label)
        if tensors is not None:
            save_file(tensors, str(model / "model.safetensors"))
        if config_edit:
            cfg = dict(config)
            config_edit(cfg)
            (model / "config.json").write_text(json.dumps(cfg))
        out[label] = model

    def poisoned(name: str, value: float) -> dict:
        t = dict(weights)
        t[name] = t[name].copy()
        t[name].flat[0] = value
        return t

    model_with("content-hidden-size-disagrees", config_edit=lambda c: c.update(hidden_size=2 * c["hidden_size"]))
    model_with("content-zero-embedding",  # and the lm_head, tied or not: no key can be built
               tensors={k: np.zeros_like(v) if k == embed or "lm_head" in k else v for k, v in weights.items()})
    model_with("content-nan-q-proj", tensors=poisoned(q0, float("nan")))
    model_with("content-nan-ffn", tensors=poisoned(ffn, float("nan")))
    model_with("content-inf-embedding", tensors=poisoned(embed, float("inf")))
    model_with("content-qwen2-config-over-llama",
               config_edit=lambda c: c.update(model_type="qwen2", architectures=["Qwen2ForCausalLM"]))
    gpt2 = {k.replace("model.embed_tokens", "transformer.wte").replace("model.layers", "transformer.h")
            .replace("self_attn.q_proj", "attn.c_q"): v for k, v in weights.items()}
    model_with("content-gpt2-names-under-llama", tensors=gpt2)
    lone = work / "content-lone-tensor.safetensors"
    save_file({"foo": np.ones((3, 3), dtype=np.float32)}, str(lone))
    out["content-lone-tensor"] = lone
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
    parser.add_argument("--cases", default=None, help="Only the inputs whose names start with one of these "
                        "comma-separated prefixes (gguf-,key-,tokenizer-,content-,...).")
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
    selected = cases(victim, inputs)
    if args.cases:
        selected = {k: v for k, v in selected.items() if k.startswith(tuple(args.cases.split(",")))}
    for label, path in selected.items():
        for command, make in commands.items():
            code, err, seconds, rss = run([*cli, *make(path)], args.timeout)
            table[command]["runs"] += 1
            table[command][f"exit {code}"] += 1
            peak[command] = max(peak[command], rss)
            traceback = "Traceback" in err
            table[command]["tracebacks"] += traceback
            table[command]["hangs"] += code is None
            first = err.strip().splitlines()[0] if err.strip() else ""
            silent = code == 0 and must_refuse(label, command)
            table[command]["silent acceptances"] += silent
            ok = (code in (0, 2, 3) and not traceback and rss <= args.memory_mb and not silent
                  and (code == 0 or first.startswith("error: ")))
            if not ok:
                broken.append((label, command, code, rss, round(seconds, 1), first[:160]))
    print("| command | runs | exit codes | tracebacks | hangs | silent acceptances | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    for command, counts in table.items():
        codes = ", ".join(f"{k.removeprefix('exit ')}: {v}" for k, v in sorted(counts.items()) if k.startswith("exit"))
        print(f"| {command} | {counts['runs']} | {codes} | {counts['tracebacks']} | {counts['hangs']} | "
              f"{counts['silent acceptances']} | {peak[command]} |")
    print(f"\n{len(broken)} runs broke the rule")
    for row in broken:
        print("  ", row)


if __name__ == "__main__":
    main()
