"""A PEFT adapter folder read as a model: its base with the adapter merged in.

Fine-tunes are often shipped as a folder holding ``adapter_config.json`` and
``adapter_model.safetensors`` only. Every method here reads whole weight matrices, so
:func:`merged_model` builds what a user of the adapter runs: the base model (``base`` when given,
else the ``base_model_name_or_path`` the adapter names, resolved like any model: a path, or a
hub id from the Hugging Face cache) with ``peft``'s own ``merge_and_unload``, which knows every
variant peft saves (LoRA, rsLoRA, DoRA, ...). Building it is a merge, not training: one pass
over the weights. The merged model is kept under ``$LLM_LINEAGE_CACHE/adapters/`` keyed by the
adapter's and the base's bytes, with a record (``llm_lineage_adapter.json``) naming both, which
every result's provenance carries.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, first_line
from .hub import ADAPTER_RECORD, origin, resolve_model
from .stores import SafetensorsStore

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                    "tokenizer.model", "vocab.json", "merges.txt", "chat_template.jinja")


def is_adapter_folder(path: Path) -> bool:
    """A folder with ``adapter_config.json`` and no full model beside it."""
    return path.is_dir() and (path / "adapter_config.json").is_file() and not (path / "config.json").is_file()


def adapter_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{folder}/adapter_config.json is not readable JSON ({first_line(exc)})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{folder}/adapter_config.json is not a JSON object")
    return config


def merged_model(adapter: Path, *, base: str | Path | None = None, download: bool = False) -> Path:
    """The folder of ``adapter``'s base with the adapter merged in, built once and cached."""
    from ..paths import cache_root

    config = adapter_config(adapter)
    named = base if base is not None else config.get("base_model_name_or_path")
    if not named or not isinstance(named, str | Path):
        raise InputError(f"{adapter} is a PEFT adapter that does not name its base model",
                         hint="pass --base BASE (a model folder or hub id)")
    try:
        base_path = resolve_model(named, download=download)
    except InputError as exc:
        raise InputError(f"{adapter} is a PEFT adapter on {named}, which cannot be found: {exc}",
                         hint="pass --base BASE (a model folder, or a hub id with --download)") from None
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise InputError(f"{adapter} has adapter_config.json but no adapter_model.safetensors",
                         hint="pickled adapters (adapter_model.bin) are not read; re-save it with safetensors")
    SafetensorsStore.open_file(weights)  # its header checked against the bytes present, as every weight file's
    out = cache_root() / "adapters" / _digest(adapter, base_path)
    if (out / ADAPTER_RECORD).is_file():
        return out
    record = {"adapter": str(adapter.absolute()), "base": str(named), "base_path": str(base_path.absolute()),
              "peft_type": config.get("peft_type"), "use_dora": bool(config.get("use_dora")),
              "base_origin": origin(base_path)}
    _merge(adapter, base_path, out, record)
    return out


def _digest(adapter: Path, base: Path) -> str:
    """Keyed by the adapter (its folder and bytes) and the base's weight files (path, size, mtime):
    a changed adapter or base builds anew, and the record names the folder that was given."""
    h = hashlib.sha256(str(adapter.absolute()).encode() + b"\0")
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        h.update((adapter / name).read_bytes())
    for path in sorted(base.glob("*.safetensors")) + sorted(base.glob("config.json")):
        stat = path.stat()
        h.update(f"{path.absolute()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return h.hexdigest()[:24]


def _merge(adapter: Path, base: Path, out: Path, record: dict[str, Any]) -> None:
    from .. import progress
    from .hf_model import load_model, require_finite

    with progress.stage(f"merging adapter {adapter.name} into {base.name}"), warnings.catch_warnings():
        # peft and transformers warn about their own deprecations; nothing a user can act on
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        model = load_model(base, dtype=_dtype_of(base))
        from peft import PeftModel

        try:
            merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        except (ValueError, TypeError, KeyError, RuntimeError, OSError) as exc:
            raise ConfigError(f"peft cannot apply {adapter} to {base}: {first_line(exc, limit=300)}") from None
        require_finite(merged, f"{adapter} merged into {base}")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".merge-", dir=out.parent))
        try:
            merged.save_pretrained(tmp, safe_serialization=True)
            for source in (base, adapter):  # the adapter's tokenizer (added tokens) wins over the base's
                for name in _TOKENIZER_FILES:
                    if (source / name).is_file():
                        shutil.copyfile(source / name, tmp / name)
            (tmp / ADAPTER_RECORD).write_text(json.dumps(record, indent=1))
            os.replace(tmp, out)  # whole, or not at all: a killed merge leaves only a .merge- folder
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (out / ADAPTER_RECORD).is_file():  # another process may have won the race
                raise


def _dtype_of(base: Path) -> Any:
    """Merge at the base's own precision (a bf16 base stays bf16, so its copy stays exact)."""
    import torch

    from .checkpoint import open_checkpoint

    counts = open_checkpoint(base).dtypes()
    most = max(counts, key=lambda d: counts[d]).upper() if counts else "F32"
    return {"BF16": torch.bfloat16, "F16": torch.float16}.get(most, torch.float32)
