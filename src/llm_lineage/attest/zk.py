"""A zero-knowledge proof of a fingerprint *sketch* with ezkl (Halo2 + KZG), bound to a bundle.

The sketch: for one block's attention, ``S = R (X W_Q^T)(X W_K^T)^T`` where ``X`` holds the
embedding rows of ``n_tokens`` fixed tokens, ``W_Q`` and ``W_K`` the first ``rows`` rows of the
block's query and key matrices, and ``R`` a public random mixing matrix (seeded): a few bilinear
features of HuRef's kind. The weights (``X``, ``W_Q``, ``W_K``) are the circuit's *hashed*
parameters: the proof's public instances are ``R``, ``S`` and the Poseidon hash of the
parameters as ezkl quantises them, and nothing else about the weights is revealed.

What it proves: whoever holds the proving key computed ``S`` from parameters whose Poseidon hash
is ``H``. What binds ``H`` to the published model: the statement (``H``, the sketch, the
bundle's commitment root) is signed with the bundle's key, and in an audit that opens those
chunks the auditor recomputes ``H`` from the opened weights (:func:`parameter_hash`). The circuit
does not check the Merkle paths of the salted sha256 commitment (sha256 in Halo2 costs far more
than the sketch), so before such an audit the link is the owner's signature, not arithmetic.

The structured reference string is generated locally (``ezkl.gen_srs``) unless ``srs`` names a
file: a locally generated SRS is for testing only, since whoever generated it could forge
proofs; for evidence in a dispute, pass the file of a public KZG ceremony (``--srs PATH``).
ezkl is an optional dependency whose wheel carries no licence metadata (see the README).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AttestationFailed, InputError

STATEMENT = "statement.json"
SIGNATURE = "statement.sig"
PUBLIC_FILES = ("settings.json", "vk.key", "proof.json")  # what a verifier needs, besides the SRS
FORMAT = "llm-lineage-sketch/1"


@dataclass(frozen=True)
class SketchProof:
    path: Path
    statement: dict[str, Any]
    seconds: dict[str, float]     # time per stage (setup, prove, ...)
    proving_key_bytes: int        # the size of the proving key setup made (deleted once the proof exists)


def _ezkl() -> Any:
    try:
        import ezkl
    except ImportError:
        raise InputError("sketch proofs need ezkl", hint='pip install "llm-lineage[zk]"') from None
    return ezkl


def _run(result: Any) -> Any:
    """ezkl's API is async in some releases and not in others."""
    if inspect.isawaitable(result):
        async def wait() -> Any:
            return await result

        return asyncio.run(wait())
    return result


def sketch_weights(model: str | Path, *, layer: int = -1, rows: int = 8, n_tokens: int = 4
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(token ids, X, W_Q rows, W_K rows) of ``model``, read one tensor at a time."""
    from ..weights import open_checkpoint

    ckpt = open_checkpoint(model)
    n_layers = ckpt.config.num_hidden_layers
    block = layer % n_layers
    ids = np.linspace(3, ckpt.config.vocab_size - 1, n_tokens).astype(np.int64)  # fixed, spread over the vocabulary
    x = ckpt.rows("embed_tokens", ids)
    wq = ckpt.rows("q_proj", np.arange(rows), block)
    wk = ckpt.rows("k_proj", np.arange(rows), block)
    return ids, x, wq, wk


def _mixing(n_tokens: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=(2, n_tokens)).astype(np.float32)


def _circuit(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, mixing: np.ndarray, private: Path, settings: Path,
             *, calibrate: bool) -> Path:
    """Export the sketch with these weights to ONNX and compile it under ``settings`` (generated and
    calibrated first when ``calibrate``); the compiled circuit's path."""
    import torch

    ezkl = _ezkl()

    class Sketch(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.x = torch.nn.Parameter(torch.from_numpy(x))
            self.wq = torch.nn.Parameter(torch.from_numpy(wq))
            self.wk = torch.nn.Parameter(torch.from_numpy(wk))

        def forward(self, r: torch.Tensor) -> torch.Tensor:
            return (r @ (self.x @ self.wq.T)) @ (self.x @ self.wk.T).T

    private.mkdir(parents=True, exist_ok=True)
    onnx = private / "sketch.onnx"
    torch.onnx.export(Sketch().eval(), (torch.from_numpy(mixing),), str(onnx), input_names=["r"],
                      output_names=["s"], dynamo=False, opset_version=17)
    (private / "input.json").write_text(json.dumps({"input_data": [mixing.flatten().tolist()]}))
    if calibrate:
        args = ezkl.PyRunArgs()
        args.input_visibility, args.output_visibility, args.param_visibility = "public", "public", "hashed"
        _check(ezkl.gen_settings(str(onnx), str(settings), py_run_args=args), "gen_settings")
        _check(_run(ezkl.calibrate_settings(str(private / "input.json"), str(onnx), str(settings), "resources")),
               "calibrate_settings")
    _check(ezkl.compile_circuit(str(onnx), str(private / "network.ezkl"), str(settings)), "compile_circuit")
    _run(ezkl.gen_witness(str(private / "input.json"), str(private / "network.ezkl"), str(private / "witness.json")))
    return private / "network.ezkl"


def prove_sketch(model: str | Path, bundle: str | Path, out: str | Path, *, key_path: str | Path,
                 layer: int = -1, rows: int = 8, n_tokens: int = 4, seed: int = 0,
                 srs: str | Path | None = None) -> SketchProof:
    """Prove the sketch of ``model`` (which ``bundle`` committed to) and sign the statement into ``out``."""
    from .bundle import _signing_key, check_bundle

    ezkl = _ezkl()
    checked = check_bundle(bundle)
    out = Path(out)
    private = out / "private"  # the circuit with the weights and the witness: never published
    ids, x, wq, wk = sketch_weights(model, layer=layer, rows=rows, n_tokens=n_tokens)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()

    settings = out / "settings.json"
    circuit = _circuit(x, wq, wk, _mixing(n_tokens, seed), private, settings, calibrate=True)
    lap("compile")
    logrows = int(json.loads(settings.read_text())["run_args"]["logrows"])
    srs_path = Path(srs) if srs is not None else private / f"local-{logrows}.srs"
    if srs is None:
        ezkl.gen_srs(str(srs_path), logrows)
        lap("local SRS")
    elif not srs_path.is_file():
        raise InputError(f"--srs {srs_path} is not a file")
    _check(ezkl.setup(str(circuit), str(out / "vk.key"), str(private / "pk.key"), str(srs_path)), "setup")
    lap("setup")
    ezkl.prove(str(private / "witness.json"), str(circuit), str(private / "pk.key"), str(out / "proof.json"),
               str(srs_path))
    lap("prove")
    proving_key_bytes = (private / "pk.key").stat().st_size
    # the proving key is about 0.5 GB for a 2^15-row circuit and proves nothing once the proof exists;
    # setup rebuilds it from the circuit and the SRS kept in private/ if the owner proves again
    (private / "pk.key").unlink()
    statement = {
        "format": FORMAT, "bundle_root": checked.commitment.root, "model": checked.manifest.get("model"),
        "layer": layer, "rows": rows, "n_tokens": n_tokens, "token_ids": ids.tolist(), "mixing_seed": seed,
        "logrows": logrows,
        "srs": "local (for testing only)" if srs is None else hashlib.sha256(srs_path.read_bytes()).hexdigest(),
        "parameter_hash": _witness_hash(private),
        "instances": _instances(out / "proof.json"),
        "files": {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in PUBLIC_FILES},
    }
    data = json.dumps(statement, indent=1, sort_keys=True).encode() + b"\n"
    (out / STATEMENT).write_bytes(data)
    (out / SIGNATURE).write_text(_signing_key(Path(key_path)).sign(data).hex() + "\n")
    return SketchProof(out, statement, seconds, proving_key_bytes)


def verify_sketch(bundle: str | Path, proof_dir: str | Path, *, srs: str | Path | None = None,
                  weights: str | Path | None = None) -> dict[str, Any]:
    """Check a sketch proof against its bundle: the statement's signature by the bundle's key, its
    root, the public files, the instances the proof carries, and the proof itself; with
    ``weights`` (the opened, committed model of an audit), also that the proven parameters are
    theirs. Raises :class:`AttestationFailed` naming the first failure; returns the statement."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from .bundle import check_bundle

    ezkl = _ezkl()
    checked = check_bundle(bundle)
    proof_dir = Path(proof_dir)
    try:
        data = (proof_dir / STATEMENT).read_bytes()
        statement = json.loads(data)
        signature = bytes.fromhex((proof_dir / SIGNATURE).read_text().strip())
    except (OSError, ValueError) as exc:
        raise AttestationFailed(f"{proof_dir}: statement or signature unreadable ({exc})") from None
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(checked.manifest["public_key"])).verify(signature, data)
    except InvalidSignature:
        raise AttestationFailed(f"{proof_dir}: the statement is not signed by the bundle's key") from None
    if statement.get("format") != FORMAT or statement.get("bundle_root") != checked.commitment.root:
        raise AttestationFailed(f"{proof_dir}: the statement is for another commitment "
                                f"({str(statement.get('bundle_root'))[:16]}...)")
    for name, digest in statement.get("files", {}).items():
        if not (proof_dir / name).is_file() or hashlib.sha256((proof_dir / name).read_bytes()).hexdigest() != digest:
            raise AttestationFailed(f"{proof_dir}: {name} is missing or differs from the signed statement")
    if _instances(proof_dir / "proof.json") != statement.get("instances"):
        raise AttestationFailed(f"{proof_dir}: the proof's public instances (mixing, sketch, parameter hash) "
                                "differ from the signed statement")
    if srs is None:
        if statement.get("srs") != "local (for testing only)":
            raise InputError("this proof was made with a ceremony SRS: pass it with --srs PATH")
        srs_path = proof_dir / "private" / f"local-{statement['logrows']}.srs"
        if not srs_path.is_file():
            raise InputError("the proof was made with a local SRS that is not here; pass one with --srs PATH")
    else:
        srs_path = Path(srs)
    try:
        ok = ezkl.verify(str(proof_dir / "proof.json"), str(proof_dir / "settings.json"), str(proof_dir / "vk.key"),
                         str(srs_path))
    except Exception as exc:  # ezkl raises plain exceptions for a proof that does not verify
        raise AttestationFailed(f"{proof_dir}: the proof does not verify ({str(exc).splitlines()[0][:200]})") from None
    if not ok:
        raise AttestationFailed(f"{proof_dir}: the proof does not verify")
    if weights is not None and parameter_hash(weights, proof_dir) != statement["parameter_hash"]:
        raise AttestationFailed(f"{proof_dir}: the sketch was proven from other weights than {weights} (the "
                                "Poseidon hash of their sketch parameters differs)")
    return dict(statement)


def parameter_hash(model: str | Path, proof_dir: str | Path) -> list[str]:
    """The Poseidon hash of ``model``'s sketch parameters, quantised under the proof's public
    settings: recomputed from opened weights, it ties the proof to them."""
    import tempfile

    proof_dir = Path(proof_dir)
    statement = json.loads((proof_dir / STATEMENT).read_text())
    _, x, wq, wk = sketch_weights(model, layer=statement["layer"], rows=statement["rows"],
                                  n_tokens=statement["n_tokens"])
    with tempfile.TemporaryDirectory() as tmp:
        settings = Path(tmp) / "settings.json"
        settings.write_bytes((proof_dir / "settings.json").read_bytes())
        _circuit(x, wq, wk, _mixing(statement["n_tokens"], statement["mixing_seed"]), Path(tmp) / "private",
                 settings, calibrate=False)
        return _witness_hash(Path(tmp) / "private")


def _witness_hash(private: Path) -> list[str]:
    return list(json.loads((private / "witness.json").read_text())["processed_params"]["poseidon_hash"])


def _instances(proof: Path) -> Any:
    try:
        data = json.loads(proof.read_text())
    except (OSError, ValueError) as exc:
        raise AttestationFailed(f"{proof}: unreadable ({exc})") from None
    return data.get("pretty_public_inputs") or data.get("instances")


def _check(ok: Any, stage: str) -> None:
    if ok is False:
        raise AttestationFailed(f"ezkl {stage} failed")
