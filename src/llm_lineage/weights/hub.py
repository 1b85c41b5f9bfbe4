"""Models named the way the Hugging Face ecosystem names them: ``ORG/NAME[@REVISION]``.

:func:`resolve_model` turns such an id into the local snapshot folder the rest of the project
reads, from the Hugging Face cache first (``HF_HUB_CACHE``, else ``HF_HOME/hub``; the
``models--ORG--NAME/{blobs,refs,snapshots}`` layout ``huggingface_hub`` writes). Nothing is fetched
unless the caller passes ``download=True`` (the CLI's ``--download``), and then only the files
this project reads: config, tokenizer, model card, adapter files and the top-level safetensors
weights with their index (no pickle, ONNX, GGUF or ``original/`` duplicates; every shard, since
the white-box methods read every block). ``HF_HUB_OFFLINE=1`` forbids the download; ``HF_ENDPOINT``
names the hub (a mirror, or a stand-in in tests). A path that exists always wins over an id of
the same spelling.

:func:`origin` reads back from a path where it came from (hub id and the revision's commit sha,
or an adapter and its base), for every result's provenance.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import InputError, ModelNotFound, first_line

_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<revision>[\w./-]+))?$")
_SNAPSHOT = re.compile(r"models--(?P<org>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<sha>[0-9a-f]{40})(?:/|$)")
# files read besides the weights: config, tokenizer, model card, PEFT adapter
_SIDE_FILES = re.compile(r"^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|"
                         r"special_tokens_map\.json|added_tokens\.json|tokenizer\.model|vocab\.json|merges\.txt|"
                         r"README\.md|adapter_config\.json|adapter_model\.safetensors)$")


def parse_hub_id(spec: str) -> tuple[str, str | None] | None:
    """``(repo_id, revision)`` when ``spec`` is spelt as a hub id, else None."""
    match = _HUB_ID.match(spec)
    return (match["repo"], match["revision"]) if match else None


def hub_cache() -> Path:
    """The Hugging Face cache folder, read from the environment now (not at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def offline() -> bool:
    return (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").upper() in (
        "1", "ON", "YES", "TRUE")


def resolve_model(spec: str | Path, *, download: bool = False) -> Path:
    """The local path of a model named by a path or a hub id (see the module docstring)."""
    path = Path(spec)
    parsed = None if path.exists() or isinstance(spec, Path) else parse_hub_id(str(spec))
    if parsed is None:  # a path; a missing one is reported by whatever opens it
        return path
    repo_id, revision = parsed
    cached = _cached_snapshot(repo_id, revision)
    if cached is not None and (not download or _has_weights(cached)
                               or (cached / "adapter_config.json").is_file()):
        return cached
    named = f"{repo_id}@{revision}" if revision else repo_id
    if not download:
        why = (f"revision {revision} of {repo_id} is not" if revision and _repo_cached(repo_id)
               else f"{repo_id} is not")
        raise ModelNotFound(f"{spec} does not exist as a path, and {why} in the Hugging Face cache ({hub_cache()})",
                            hint=f"pass --download to fetch {named} (only the files llm-lineage reads), or a local path")
    if offline():
        raise InputError(f"{named} is not in the Hugging Face cache and HF_HUB_OFFLINE=1 forbids downloading it",
                         hint="unset HF_HUB_OFFLINE, or copy the model into the cache")
    return _download(repo_id, revision)


def origin(path: str | Path) -> dict[str, Any]:
    """Where a model path came from: ``{"hub_id", "revision"}`` for a Hugging Face cache snapshot,
    the adapter's own record for a merged PEFT adapter; empty for a plain path."""
    path = Path(path)
    record = path / ADAPTER_RECORD if path.is_dir() else None
    if record is not None and record.is_file():
        return json.loads(record.read_text())
    match = _SNAPSHOT.search(path.absolute().as_posix())
    if match is None:
        return {}
    return {"hub_id": f"{match['org']}/{match['name']}", "revision": match["sha"]}


def described(path: str | Path) -> str:
    """A model path as a reader knows it: ``ORG/NAME@SHA12`` for a cache snapshot, ``ADAPTER (PEFT
    adapter on BASE)`` for a merged adapter, else its file or folder name."""
    where = origin(path)
    if "adapter" in where:
        return f"{Path(where['adapter']).name} (PEFT adapter on {where['base']})"
    if "hub_id" in where:
        return f"{where['hub_id']}@{where['revision'][:12]}"
    return Path(path).name or str(path)


ADAPTER_RECORD = "llm_lineage_adapter.json"  # written beside a merged adapter (weights/peft_adapter.py)


# --- the cache ----------------------------------------------------------------------------------


def _repo_folder(repo_id: str) -> Path:
    return hub_cache() / ("models--" + repo_id.replace("/", "--"))


def _repo_cached(repo_id: str) -> bool:
    return _repo_folder(repo_id).is_dir()


def _cached_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The snapshot folder of ``revision`` (a branch, tag or commit sha; default ``main``)."""
    folder = _repo_folder(repo_id)
    revision = revision or "main"
    ref = folder / "refs" / revision
    sha = ref.read_text().strip() if ref.is_file() else revision
    snapshot = folder / "snapshots" / sha
    return snapshot if re.fullmatch(r"[0-9a-f]{40}", sha) and snapshot.is_dir() else None


def _has_weights(snapshot: Path) -> bool:
    return any(snapshot.glob("*.safetensors")) or any(snapshot.glob("*.gguf"))


# --- downloading ----------------------------------------------------------------------------------


def _download(repo_id: str, revision: str | None) -> Path:
    """Fetch what :func:`resolve_model` needs of ``repo_id`` into the cache; say its size first."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    endpoint = os.environ.get("HF_ENDPOINT") or None
    cache = hub_cache()
    try:
        info = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, files_metadata=True)
        sizes = {s.rfilename: int(s.size or 0) for s in info.siblings or []}
        sha = str(info.sha)
        files = sorted(name for name in sizes if _SIDE_FILES.match(name))
        files += _weight_files(sizes)
        total = sum(sizes[f] for f in files)
        print(f"[llm-lineage] downloading {len(files)} files ({total / 1e6:.1f} MB) of {repo_id}@{sha[:12]} "
              f"from {endpoint or 'huggingface.co'} into {cache}", file=sys.stderr)
        for name in files:
            hf_hub_download(repo_id, name, revision=sha, cache_dir=cache, endpoint=endpoint)
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise ModelNotFound(f"{repo_id}@{revision or 'main'} is not on {endpoint or 'huggingface.co'}: "
                            f"{first_line(exc)}", hint="check the id's spelling and revision") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise InputError(f"could not download {repo_id}: {first_line(exc)}",
                         hint="check HF_ENDPOINT, the network, and HF_TOKEN for a gated model") from None
    folder = _repo_folder(repo_id)
    if (revision or "main") != sha:  # the files were fetched by commit: remember which one the name meant
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / (revision or "main")).write_text(sha)
    snapshot = folder / "snapshots" / sha
    if not _has_weights(snapshot) and not (snapshot / "adapter_config.json").is_file():
        raise InputError(f"{repo_id}@{sha[:12]} holds no safetensors weights and no PEFT adapter",
                         hint="llm-lineage reads safetensors, GGUF (give the .gguf file's path) or adapter folders")
    return snapshot


def _weight_files(sizes: dict[str, int]) -> list[str]:
    """The top-level safetensors weights and their index (sub-folders hold other formats' copies)."""
    return sorted(n for n in sizes if "/" not in n and n != "adapter_model.safetensors"
                  and (n.endswith(".safetensors") or n.endswith(".safetensors.index.json")))
