"""The ezkl sketch proof: an honest sketch verifies; one from other weights, or a changed proof, fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ezkl", reason='ezkl is not installed: pip install "llm-lineage[zk]"')

from llm_lineage.attest import publish  # noqa: E402
from llm_lineage.attest.zk import prove_sketch, verify_sketch  # noqa: E402
from llm_lineage.errors import AttestationFailed  # noqa: E402

pytestmark = pytest.mark.slow
CLI = str(Path(sys.executable).with_name("llm-lineage"))


@pytest.fixture(scope="module")
def proven(victim, unrelated_llama, tmp_path_factory):
    root = tmp_path_factory.mktemp("zk")
    publish(victim, root / "bundle", secret_path=root / "secret", key_path=root / "key.pem", methods=["std-profile"])
    honest = prove_sketch(victim, root / "bundle", root / "honest", key_path=root / "key.pem")
    # an owner who proves the sketch of another model under their bundle
    other = prove_sketch(unrelated_llama, root / "bundle", root / "other", key_path=root / "key.pem")
    return root, honest, other


def test_an_honest_sketch_verifies_and_matches_the_committed_weights(proven, victim):
    root, honest, _ = proven
    statement = verify_sketch(root / "bundle", honest.path, weights=victim)
    assert statement["parameter_hash"] == honest.statement["parameter_hash"]
    assert statement["srs"] == "local (for testing only)" and set(honest.seconds) >= {"setup", "prove"}
    # the published files say nothing of the weights: they live only in private/
    public = {p.name for p in honest.path.iterdir() if p.is_file()}
    assert public == {"settings.json", "vk.key", "proof.json", "statement.json", "statement.sig"}
    # the half-gigabyte proving key is not kept once the proof exists
    assert not (honest.path / "private" / "pk.key").exists() and honest.proving_key_bytes > 0


def test_a_sketch_of_other_weights_fails_against_the_committed_ones(proven, victim):
    root, _, other = proven
    verify_sketch(root / "bundle", other.path)  # a valid proof of *some* weights, signed by the owner ...
    with pytest.raises(AttestationFailed, match="proven from other weights"):
        verify_sketch(root / "bundle", other.path, weights=victim)  # ... but not of the committed ones


def test_a_changed_proof_or_statement_fails(proven, tmp_path):
    import shutil

    root, honest, _ = proven
    changed = tmp_path / "changed"
    shutil.copytree(honest.path, changed)
    proof = json.loads((changed / "proof.json").read_text())
    proof["pretty_public_inputs"]["rescaled_outputs"][0][0] = "123.0"
    (changed / "proof.json").write_text(json.dumps(proof))
    with pytest.raises(AttestationFailed, match="differs from the signed statement"):
        verify_sketch(root / "bundle", changed)
    statement = (honest.path / "statement.json").read_text().replace('"layer": -1', '"layer": 0')
    shutil.copytree(honest.path, tmp_path / "restated")
    (tmp_path / "restated" / "statement.json").write_text(statement)
    done = subprocess.run([CLI, "verify-sketch", str(root / "bundle"), str(tmp_path / "restated")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 4 and "not signed by the bundle's key" in done.stderr
