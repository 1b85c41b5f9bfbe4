"""Moving registry entries between machines: one zip holding entries, summaries and blobs.

Layout of an export::

    registry.json            format, and per entry: name, provenance, fingerprint rows
    summaries.safetensors    "<i>/token_ids" and "<i>/vector" for entry i
    blobs/<sha256>.safetensors

Import checks every blob against its content hash, writes the blobs, then inserts all entries in
one transaction: an import is applied whole or not at all. An entry whose name is already taken is
skipped when its weight files have the same hashes (the same model), and refused otherwise.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import RegistryError
from .store import Registry, StoredFingerprint
from .summary import Summary

FORMAT = "llm-lineage-registry-export/1"


def export_registry(registry: Registry, out: str | Path, names: Sequence[str] | None = None) -> Path:
    """Write the entries ``names`` (default: all) to the zip ``out``; return its path."""
    from safetensors.numpy import save

    out = Path(out)
    entries = [registry.get(n) for n in names] if names else registry.entries()
    doc, tensors, blobs = [], {}, set()
    for i, entry in enumerate(entries):
        if entry.summary is not None:
            tensors[f"{i}/token_ids"] = entry.summary.token_ids
            tensors[f"{i}/vector"] = entry.summary.vector
        doc.append({"name": entry.name, "provenance": entry.provenance,
                    "summary_role": entry.summary.role if entry.summary else None,
                    "fingerprints": [vars(f) for f in entry.fingerprints.values()]})
        blobs |= {f.blob for f in entry.fingerprints.values() if f.blob}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("registry.json", json.dumps({"format": FORMAT, "entries": doc}, indent=2, sort_keys=True))
        archive.writestr("summaries.safetensors", save(tensors) if tensors else b"")
        for sha in sorted(blobs):
            path = registry.blob_path(sha)
            if not path.is_file():
                raise RegistryError(f"cannot export: blob {path} is missing", hint="run llm-lineage registry check")
            archive.write(path, f"blobs/{sha}.safetensors")
    tmp.replace(out)
    return out


def import_registry(registry: Registry, archive_path: str | Path) -> list[str]:
    """Add the entries of an export to ``registry``; return the names added."""
    from safetensors.numpy import load

    archive_path = Path(archive_path)
    if not archive_path.is_file():
        raise RegistryError(f"{archive_path} does not exist")
    try:
        with zipfile.ZipFile(archive_path) as archive:
            doc = json.loads(archive.read("registry.json"))
            raw = archive.read("summaries.safetensors")
            summaries = load(raw) if raw else {}
            blobs = {name.removeprefix("blobs/").removesuffix(".safetensors"): archive.read(name)
                     for name in archive.namelist() if name.startswith("blobs/")}
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as exc:
        raise RegistryError(f"{archive_path} is not an llm-lineage registry export ({exc})") from None
    if doc.get("format") != FORMAT:
        raise RegistryError(f"{archive_path} has format {doc.get('format')!r}; this version reads {FORMAT}")

    existing = {e.name: e for e in registry.entries()}
    items = []
    for i, item in enumerate(doc["entries"]):
        name, prov = item["name"], item["provenance"]
        if name in existing:
            if existing[name].provenance.get("weight_files") == prov.get("weight_files"):
                continue  # the same model, already here
            raise RegistryError(f"{registry.location} already holds a different model named {name!r}",
                                hint="remove or rename it first; nothing was imported")
        summary = None
        if f"{i}/vector" in summaries:
            summary = Summary(summaries[f"{i}/token_ids"].astype(np.int64), summaries[f"{i}/vector"],
                              item["summary_role"])
        fps = {f["method"]: StoredFingerprint(**f) for f in item["fingerprints"]}
        for f in fps.values():
            if f.blob and f.blob not in blobs and not registry.blob_path(f.blob).is_file():
                raise RegistryError(f"{archive_path} lacks the {f.method} blob of {name!r}")
        items.append((name, prov, summary, fps))
    # blobs first, each checked against its hash; then one transaction
    needed = {f.blob for _, _, _, fps in items for f in fps.values() if f.blob}
    for sha in sorted(needed & blobs.keys()):
        registry.write_blob_bytes(sha, blobs[sha])
    registry.insert_many(items)
    return [name for name, *_ in items]
