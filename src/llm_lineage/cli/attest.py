"""``llm-lineage commit | publish | check-bundle | open | audit``: attested fingerprints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _render
from ._options import BaseOpt, DownloadOpt, JsonOpt, ModelArg

SecretOpt = Annotated[Path, typer.Option(
    "--secret", help="The commitment's secret (salts): created when missing; keep it private, outside the bundle.",
    show_default=False)]
ChunkOpt = Annotated[int | None, typer.Option("--chunk-bytes", help="Chunk size of the commitment (default 4 MiB).")]
MethodsOpt = Annotated[str | None, typer.Option("--methods", help="Comma-separated methods (default: all white-box).")]
BundleArg = Annotated[Path, typer.Argument(help="A bundle directory written by `publish`.", show_default=False)]
PublicKeyOpt = Annotated[str | None, typer.Option(
    "--public-key", help="Hex Ed25519 key the bundle must be signed with (default: the bundle's own).")]


def _methods(value: str | None) -> list[str] | None:
    return [m.strip() for m in value.split(",") if m.strip()] if value else None


def commit(model: ModelArg, out: Annotated[Path, typer.Option("-o", "--out", help="Commitment JSON to write.",
                                                              show_default=False)],
           secret: SecretOpt, chunk_bytes: ChunkOpt = None, as_json: JsonOpt = False) -> None:
    """Commit to MODEL's weights: a salted Merkle tree over chunks; its root is the public commitment."""
    from ..attest.commitment import CHUNK_BYTES, load_or_create_secret, write_json
    from ..attest.commitment import commit as make_commitment
    from ..weights import open_checkpoint

    commitment, _ = make_commitment(open_checkpoint(model), load_or_create_secret(secret),
                                    chunk_bytes=chunk_bytes or CHUNK_BYTES, progress=not as_json)
    write_json(out, commitment.as_dict())
    _render.attestation({"root": commitment.root, "leaves": len(commitment.leaves),
                         "bytes": commitment.total_bytes, "written": str(out)}, as_json=as_json,
                        title=f"commitment to {model}")


def publish(model: ModelArg, out: Annotated[Path, typer.Option("-o", "--out", help="Bundle directory to write.",
                                                               show_default=False)],
            secret: SecretOpt,
            key: Annotated[Path, typer.Option("--key", help="Ed25519 private key (PEM): created when missing; "
                                                            "keep it private.", show_default=False)],
            methods: MethodsOpt = None, chunk_bytes: ChunkOpt = None, as_json: JsonOpt = False,
            download: DownloadOpt = False, base: BaseOpt = None) -> None:
    """Commit to MODEL, fingerprint it with every white-box method, and sign it all into a bundle."""
    from ..attest import publish as make_bundle

    bundle = make_bundle(model, out, secret_path=secret, key_path=key, methods=_methods(methods),
                         chunk_bytes=chunk_bytes, progress=not as_json)
    _render.attestation({"bundle": str(bundle.path), "root": bundle.commitment.root,
                         "fingerprints": sorted(bundle.manifest["methods"]), "skipped": bundle.manifest["skipped"],
                         "public_key": bundle.manifest["public_key"]}, as_json=as_json, title=f"published {model}")


def check_bundle(bundle: BundleArg, public_key: PublicKeyOpt = None, as_json: JsonOpt = False) -> None:
    """Verify a bundle's signature, the hash of every file in it, and its commitment's format."""
    from ..attest import check_bundle as check

    checked = check(bundle, public_key=public_key)
    _render.attestation({"bundle": str(checked.path), "signature": "valid", "model": checked.manifest["model"],
                         "root": checked.commitment.root, "public_key": checked.manifest["public_key"],
                         "fingerprints": sorted(checked.manifest["methods"])}, as_json=as_json, title="bundle checks out")


def open_(model: ModelArg, bundle: Annotated[Path, typer.Option("--bundle", help="The published bundle.",
                                                                show_default=False)],
          out: Annotated[Path, typer.Option("-o", "--out", help="Opening directory to write.", show_default=False)],
          secret: SecretOpt, methods: MethodsOpt = None, as_json: JsonOpt = False) -> None:
    """Owner side of an audit: open only the chunks the chosen fingerprints read, with their Merkle paths."""
    from ..attest import open_bundle

    written = open_bundle(model, bundle, out, secret_path=secret, methods=_methods(methods), progress=not as_json)
    _render.attestation({"opening": str(written)}, as_json=as_json, title="opened")


def audit(bundle: BundleArg,
          opening: Annotated[Path, typer.Argument(help="An opening written by `open`.", show_default=False)],
          public_key: PublicKeyOpt = None,
          suspect: Annotated[str | None, typer.Option(
              "--suspect", help="Endpoint URL to challenge with the key of the opened, committed lm_head "
                                "(open with --methods subspace).")] = None,
          api_model: Annotated[str | None, typer.Option("--api-model", help="Model id the endpoint serves.")] = None,
          as_json: JsonOpt = False) -> None:
    """Check an opening against a bundle's commitment and recompute its fingerprints, bit for bit."""
    from ..attest import audit as run_audit

    report = run_audit(bundle, opening, public_key=public_key, suspect=suspect, api_model=api_model)
    _render.attestation({"bundle": report.bundle, "root": report.root, "methods": report.methods,
                         "leaves opened": f"{report.leaves_opened} of {report.leaves_total}",
                         "share revealed": f"{100 * report.share_revealed:.1f}% of {report.bytes_total} bytes",
                         **({"endpoint": report.endpoint} if report.endpoint else {})},
                        as_json=as_json, title="audit passed")


def prove_sketch(model: ModelArg, bundle: Annotated[Path, typer.Option("--bundle", help="The published bundle.",
                                                                      show_default=False)],
                 out: Annotated[Path, typer.Option("-o", "--out", help="Proof directory to write.", show_default=False)],
                 key: Annotated[Path, typer.Option("--key", help="The bundle's Ed25519 private key (PEM).",
                                                   show_default=False)],
                 layer: Annotated[int, typer.Option("--layer", help="Block of the sketch (negative: from the end).")] = -1,
                 rows: Annotated[int, typer.Option("--rows", help="Rows of W_Q and W_K in the sketch.")] = 8,
                 tokens: Annotated[int, typer.Option("--tokens", help="Embedding rows in the sketch.")] = 4,
                 srs: Annotated[Path | None, typer.Option(
                     "--srs", help="KZG structured reference string of a public ceremony (default: generated "
                                   "locally, for testing only).")] = None,
                 as_json: JsonOpt = False) -> None:
    """Zero-knowledge proof (ezkl) of a fingerprint sketch of MODEL, signed and bound to its bundle."""
    from ..attest.zk import prove_sketch as prove

    proof = prove(model, bundle, out, key_path=key, layer=layer, rows=rows, n_tokens=tokens, srs=srs)
    _render.attestation({"proof": str(proof.path), "parameter hash": proof.statement["parameter_hash"],
                         "srs": proof.statement["srs"], "seconds": proof.seconds,
                         "publish": "settings.json, vk.key, proof.json, statement.json, statement.sig "
                                    "(never private/)"}, as_json=as_json, title="sketch proven")


def verify_sketch(bundle: BundleArg,
                  proof: Annotated[Path, typer.Argument(help="A proof directory from `prove-sketch`.",
                                                        show_default=False)],
                  srs: Annotated[Path | None, typer.Option("--srs", help="The SRS the proof was made with.")] = None,
                  weights: Annotated[Path | None, typer.Option(
                      "--weights", help="The committed model, in an audit: check the proof is of its weights.")] = None,
                  as_json: JsonOpt = False) -> None:
    """Verify a sketch proof: signature, bundle root, public instances, the ZK proof (and the weights)."""
    from ..attest.zk import verify_sketch as verify

    statement = verify(bundle, proof, srs=srs, weights=weights)
    _render.attestation({"proof": "verifies", "bundle root": statement["bundle_root"],
                         "parameter hash": statement["parameter_hash"], "srs": statement["srs"],
                         "weights": "match" if weights is not None else "not checked (pass --weights in an audit)"},
                        as_json=as_json, title="sketch proof checks out")
