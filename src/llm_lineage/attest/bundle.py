"""A published fingerprint bundle: the commitment, every white-box fingerprint, and a signature.

``publish`` writes a directory::

    manifest.json           model, tool version, method options, sha256 of every file below,
                            the commitment root, the Ed25519 public key
    manifest.sig            Ed25519 signature of manifest.json's bytes (hex)
    commitment.json         the leaves' public layout and the root (``commitment.py``)
    fingerprints.safetensors / .json   the fingerprints, as ``llm-lineage fingerprint`` writes them
    huref.png               the HuRef fingerprint image, when HuRef applies

and keeps two things *outside* it, with the owner: the commitment secret (salts) and the signing
key. ``check_bundle`` verifies the signature, every file's hash and the commitment's format; it
proves who signed what, not that the fingerprints came from the committed weights: that is
``opening.audit``'s job.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from ..errors import AttestationFailed, InputError
from ..paths import uncached
from .commitment import Commitment, commit, load_or_create_secret, write_json

FORMAT = "llm-lineage-bundle/1"
MANIFEST, SIGNATURE, COMMITMENT, FINGERPRINTS, IMAGE = (
    "manifest.json", "manifest.sig", "commitment.json", "fingerprints.safetensors", "huref.png")


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict[str, Any]
    commitment: Commitment

    def fingerprints(self) -> dict[str, Any]:
        from ..methods.fingerprint_io import load

        return load(self.path / FINGERPRINTS)[0]


def publish(model: str | Path, out: str | Path, *, secret_path: str | Path, key_path: str | Path,
            methods: list[str] | None = None, chunk_bytes: int | None = None, progress: bool = False) -> Bundle:
    """Commit to ``model``'s weights, fingerprint it, and sign it all into the directory ``out``.

    ``secret_path`` and ``key_path`` are read when they exist and created (mode 0600) when not;
    neither may lie inside ``out``, which is meant to be published.
    """
    from ..methods import METHODS, Kind
    from ..methods.base import fingerprint_all
    from ..methods.fingerprint_io import save
    from ..methods.pinned import PinnedWeights
    from ..weights import open_checkpoint
    from .commitment import CHUNK_BYTES

    out = Path(out)
    for private in (Path(secret_path), Path(key_path)):
        if private.resolve().is_relative_to(out.resolve()):
            raise InputError(f"{private} lies inside the bundle {out}, which is meant to be published",
                             hint="keep the secret and the signing key outside the bundle directory")
    ckpt = open_checkpoint(model)
    secret = load_or_create_secret(secret_path)
    key = _signing_key(Path(key_path))
    commitment, _ = commit(ckpt, secret, chunk_bytes=chunk_bytes or CHUNK_BYTES, progress=progress)
    chosen = methods or sorted(n for n, m in METHODS.items() if m.kind is Kind.WEIGHTS)
    with uncached():  # computed from these weights by this code, as an audit will recompute them
        results = fingerprint_all(ckpt, chosen)
    # pcs, tracing and awm compare the weights themselves: their "fingerprint" points at the
    # checkpoint, and publishing a pointer attests nothing
    pinned = {n for n, fp in results.items() if isinstance(fp, PinnedWeights)}
    fingerprints = {n: fp for n, fp in results.items() if not isinstance(fp, Exception) and n not in pinned}
    skipped = {n: str(fp) for n, fp in results.items() if isinstance(fp, Exception)}
    skipped.update(dict.fromkeys(pinned, "compares the weights themselves: no fingerprint to publish"))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / COMMITMENT, commitment.as_dict())
    save(out / FINGERPRINTS, fingerprints, manifest={"model": ckpt.name})
    files = [COMMITMENT, FINGERPRINTS, FINGERPRINTS.replace(".safetensors", ".json")]
    if "huref" in fingerprints:
        from ..methods.huref.image import save_image

        save_image(fingerprints["huref"], out / IMAGE)
        files.append(IMAGE)
    from cryptography.hazmat.primitives import serialization

    from .. import __version__

    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    manifest = {
        "format": FORMAT, "tool": "llm-lineage", "tool_version": __version__, "model": ckpt.name,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "architecture": {k: v for k, v in ckpt.summary().items() if k not in ("path",)},
        "commitment_root": commitment.root,
        "methods": {n: _options(METHODS[n].default_config()) for n in fingerprints}, "skipped": skipped,
        "files": {name: _sha256(out / name) for name in files},
        "public_key": public.hex(),
    }
    data = json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n"
    (out / MANIFEST).write_bytes(data)
    (out / SIGNATURE).write_text(key.sign(data).hex() + "\n")
    return Bundle(out, manifest, commitment)


def check_bundle(path: str | Path, *, public_key: str | None = None) -> Bundle:
    """The bundle at ``path``, after checking its signature, files and commitment.

    ``public_key`` (hex): the key the bundle must be signed with; without it the bundle's own key
    is used, which proves integrity but not who signed (compare it with the owner's published key).
    Raises :class:`AttestationFailed` naming the first thing that does not check out.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise InputError(f"{path} is not a bundle (no {MANIFEST})")
    data = (path / MANIFEST).read_bytes()
    try:
        manifest = json.loads(data)
        signature = bytes.fromhex((path / SIGNATURE).read_text().strip())
        key_hex = str(manifest["public_key"])
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AttestationFailed(f"{path}: manifest, signature or public key unreadable ({exc})") from None
    if public_key is not None and key_hex != public_key.strip().lower():
        raise AttestationFailed(f"{path} is signed with key {key_hex[:16]}..., not the expected {public_key[:16]}...")
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise AttestationFailed(f"{path}: the signature does not match {MANIFEST} (altered after signing, or "
                                f"signed with another key)") from None
    if manifest.get("format") != FORMAT:
        raise AttestationFailed(f"{path}: unknown bundle format {manifest.get('format')!r}")
    for name, digest in (manifest.get("files") or {}).items():
        if Path(name).name != name or not (path / name).is_file():
            raise AttestationFailed(f"{path}: {name} is listed in the manifest but missing")
        if _sha256(path / name) != digest:
            raise AttestationFailed(f"{path}: {name} was changed after signing (sha256 differs)")
    commitment = Commitment.from_dict(json.loads((path / COMMITMENT).read_text()))
    if commitment.root != manifest.get("commitment_root"):
        raise AttestationFailed(f"{path}: {COMMITMENT} has root {commitment.root[:16]}..., the signed manifest "
                                f"{str(manifest.get('commitment_root'))[:16]}...")
    return Bundle(path, manifest, commitment)


def _options(config: Any) -> Any:
    if not is_dataclass(config) or isinstance(config, type):
        return None
    return {k: v for k, v in asdict(config).items() if not callable(v)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _read_or_create(path: Path, make: Any) -> bytes:
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        data = make()
        fh.write(data)
    return bytes(data)


def _signing_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = _read_or_create(path, lambda: Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key
