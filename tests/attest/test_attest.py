"""Attested fingerprints: publish + open + audit round trip on a zoo model, and every tampering
(one weight chunk, one fingerprint number, the signature, a Merkle path) detected by name."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm_lineage.attest import audit, check_bundle, open_bundle, publish
from llm_lineage.attest.commitment import commit, leaf_hash, levels, path, root_from_path
from llm_lineage.errors import AttestationFailed, InputError
from llm_lineage.weights import open_checkpoint

CLI = str(Path(sys.executable).with_name("llm-lineage"))
CHUNK = 4096  # small chunks: a zoo model spans a hundred leaves, so openings are partial


@pytest.fixture(scope="module")
def published(victim, tmp_path_factory):
    root = tmp_path_factory.mktemp("attest")
    bundle = publish(victim, root / "bundle", secret_path=root / "secret", key_path=root / "key.pem",
                     methods=["huref", "std-profile", "tracing"], chunk_bytes=CHUNK)
    assert "tracing" in bundle.manifest["skipped"] and "tracing" not in bundle.manifest["methods"]
    opening = open_bundle(victim, bundle.path, root / "opening", secret_path=root / "secret", methods=["std-profile"])
    return root, bundle, opening


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_round_trip_is_bit_for_bit_and_reveals_part_of_the_model(published):
    root, bundle, opening = published
    report = audit(bundle.path, opening)
    assert report.methods == {"std-profile": "bit for bit"}
    assert 0.0 < report.share_revealed < 0.5 and report.leaves_opened < report.leaves_total
    assert report.root == bundle.commitment.root == check_bundle(bundle.path).manifest["commitment_root"]


def test_secret_and_key_never_inside_the_bundle(published, victim):
    root, bundle, _ = published
    assert not any(p.name in ("secret", "key.pem") for p in bundle.path.iterdir())
    with pytest.raises(InputError, match="inside the bundle"):
        publish(victim, root / "b2", secret_path=root / "b2" / "secret", key_path=root / "key.pem")


def test_a_changed_weight_chunk_is_named(published, tmp_path):
    _, bundle, opening = published
    tampered = copy(opening, tmp_path / "opening")
    doc = json.loads((tampered / "opening.json").read_text())
    entry = next(e for e in doc["leaves"] if e["length"] >= 4 and "self_attn" in _leaf_name(bundle, e["index"]))
    blob = bytearray((tampered / "chunks.bin").read_bytes())
    blob[entry["offset"]] ^= 0x01  # one bit of one weight
    (tampered / "chunks.bin").write_bytes(bytes(blob))
    with pytest.raises(AttestationFailed, match=f"{_leaf_name(bundle, entry['index'])}.*does not match the commitment"):
        audit(bundle.path, tampered)


def test_a_changed_merkle_path_is_named(published, tmp_path):
    _, bundle, opening = published
    tampered = copy(opening, tmp_path / "opening")
    doc = json.loads((tampered / "opening.json").read_text())
    side, sibling = doc["leaves"][3]["path"][0]
    doc["leaves"][3]["path"][0] = [side, ("0" if sibling[0] != "0" else "1") + sibling[1:]]
    (tampered / "opening.json").write_text(json.dumps(doc))
    with pytest.raises(AttestationFailed, match="does not match the commitment root"):
        audit(bundle.path, tampered)


def test_a_changed_fingerprint_number_breaks_the_signature(published, tmp_path):
    _, bundle, opening = published
    tampered = copy(bundle.path, tmp_path / "bundle")
    raw = bytearray((tampered / "fingerprints.safetensors").read_bytes())
    raw[-3] ^= 0x10  # one byte of the last fingerprint array
    (tampered / "fingerprints.safetensors").write_bytes(bytes(raw))
    with pytest.raises(AttestationFailed, match="fingerprints.safetensors was changed after signing"):
        check_bundle(tampered)


def test_a_fingerprint_the_weights_do_not_give_is_caught_even_when_resigned(published, victim, unrelated_llama,
                                                                            tmp_path):
    # an owner who signs another model's fingerprint over this commitment: signature and hashes
    # hold, the recomputation from the opened weights does not
    root, bundle, opening = published
    from llm_lineage.methods import get_method
    from llm_lineage.methods.fingerprint_io import load, save

    forged = copy(bundle.path, tmp_path / "bundle")
    fps = load(forged / "fingerprints.safetensors")[0]
    method = get_method("std-profile")
    fps["std-profile"] = method.fingerprint(open_checkpoint(unrelated_llama), method.default_config())
    save(forged / "fingerprints.safetensors", fps, manifest={"model": "victim"})
    _resign(forged, root / "key.pem")
    check_bundle(forged)  # integrity holds
    with pytest.raises(AttestationFailed, match="std-profile: field .* differs"):
        audit(forged, opening)


def test_a_changed_signature_or_key_is_refused(published, tmp_path):
    _, bundle, _ = published
    tampered = copy(bundle.path, tmp_path / "bundle")
    sig = (tampered / "manifest.sig").read_text().strip()
    (tampered / "manifest.sig").write_text(("0" if sig[0] != "0" else "1") + sig[1:])
    with pytest.raises(AttestationFailed, match="signature does not match"):
        check_bundle(tampered)
    with pytest.raises(AttestationFailed, match="not the expected"):
        check_bundle(bundle.path, public_key="00" * 32)


def test_opening_another_model_is_refused(published, unrelated_llama, tmp_path):
    root, bundle, _ = published
    with pytest.raises(AttestationFailed, match="another model, or another secret"):
        open_bundle(unrelated_llama, bundle.path, tmp_path / "o", secret_path=root / "secret")


def test_merkle_paths_reach_the_root_for_every_leaf(victim):
    commitment, tree = commit(open_checkpoint(victim), b"s" * 32, chunk_bytes=CHUNK)
    root = bytes.fromhex(commitment.root)
    for i in range(len(tree[0])):
        assert root_from_path(tree[0][i], path(tree, i)) == root
    assert levels([b"x" * 32])[-1][0] == b"x" * 32
    # another salt gives another leaf: unopened chunks reveal nothing of their bytes
    leaf = commitment.leaves[0]
    assert leaf_hash(leaf, b"a" * 32, b"data") != leaf_hash(leaf, b"b" * 32, b"data")


def test_cli_round_trip_and_exit_4_on_tampering(victim, tmp_path):
    bundle, opening = tmp_path / "bundle", tmp_path / "opening"
    run = [CLI, "publish", str(victim), "-o", str(bundle), "--secret", str(tmp_path / "s"), "--key",
           str(tmp_path / "k.pem"), "--methods", "std-profile", "--chunk-bytes", str(CHUNK), "--json"]
    assert subprocess.run(run, capture_output=True, timeout=300).returncode == 0
    done = subprocess.run([CLI, "open", str(victim), "--bundle", str(bundle), "-o", str(opening), "--secret",
                           str(tmp_path / "s"), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([CLI, "audit", str(bundle), str(opening), "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and json.loads(done.stdout)["methods"] == {"std-profile": "bit for bit"}
    (bundle / "commitment.json").write_text((bundle / "commitment.json").read_text().replace('"root"', '"root" '))
    done = subprocess.run([CLI, "check-bundle", str(bundle)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 4 and done.stderr.startswith("error: ") and "commitment.json was changed" in done.stderr


def _leaf_name(bundle, index: int) -> str:
    return bundle.commitment.leaves[index].name


def _resign(bundle: Path, key_path: Path) -> None:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    manifest = json.loads((bundle / "manifest.json").read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    data = json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n"
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    (bundle / "manifest.json").write_bytes(data)
    (bundle / "manifest.sig").write_text(key.sign(data).hex() + "\n")  # type: ignore[union-attr, call-arg]



@pytest.mark.parametrize("served, truth", [("victim", "derived"), ("unrelated_llama", "unrelated")])
def test_a_served_model_is_challenged_with_the_committed_lm_head(request, published, victim, served, truth, tmp_path):
    from llm_lineage.serve import LocalBackend
    from llm_lineage.serve.background import running

    root, bundle, _ = published
    opening = open_bundle(victim, bundle.path, tmp_path / "opening", secret_path=root / "secret",
                          methods=["subspace"])
    with running(LocalBackend(request.getfixturevalue(served))) as url:
        report = audit(bundle.path, opening, suspect=url, api_model="m", cache_path=tmp_path / "q.sqlite")
    assert report.methods == {"subspace": "owner key rebuilt from the committed lm_head"}
    assert report.endpoint is not None and report.endpoint["verdict"] == truth, report.endpoint
