"""Code stylometry: train from a registry, attribute files and an endpoint, refuse what fits no model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_lineage.registry import Registry

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).with_name("llm-lineage"))


def _cli(*args: str) -> dict:
    done = subprocess.run([CLI, *args, "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def trained(victim, tmp_path_factory):
    """A registry of two zoo models that write differently (stories, manuals), with its classifier."""
    from llm_lineage import zoo

    path = tmp_path_factory.mktemp("stylometry") / "r.sqlite"
    models = {"stories-llama": victim, "manuals-llama": zoo.build("llama", seed=3, train_steps=300, domain="manuals")}
    with Registry(path, create=True) as reg:
        for name, model in models.items():
            reg.add(model, name=name, methods=[])
    report = _cli("stylometry", "train", "--registry", str(path))
    return path, models, report


def test_training_reports_held_out_accuracy_and_stores_the_classifier(trained):
    path, models, report = trained
    assert report["labels"] == sorted(models) and report["n_held_out"] == 2 * 10 * 4  # every 4th of 40 prompts
    assert all(report["held_out_accuracy"][name] >= 0.9 for name in models), report
    with Registry(path) as reg:
        assert reg.check() == []  # the classifier blob is referenced, not garbage
        assert reg.gc() == []
        assert reg.attachment("stylometry")


def test_files_are_attributed_to_the_model_that_wrote_them(trained, tmp_path):
    from llm_lineage.methods.text.sample import sample_local
    from llm_lineage.stylometry import code_plan

    path, models, _ = trained
    # a fifth sample per prompt: texts the classifier never saw
    fresh = sample_local(models["manuals-llama"], code_plan(samples_per_prompt=5)).completions[-12:]
    files = []
    for i, text in enumerate(fresh):
        files.append(tmp_path / f"f{i}.py")
        files[-1].write_text(text)
    result = _cli("stylometry", "attribute", *map(str, files), "--registry", str(path))
    assert result["overall"]["decision"] == "manuals-llama"
    assert sum(t["decision"] == "manuals-llama" for t in result["texts"]) >= 10


def test_an_endpoint_of_an_unregistered_model_is_unknown(trained, shared_models, tmp_path):
    from llm_lineage.serve import LocalBackend, ServeOptions
    from llm_lineage.serve.background import running

    path, _, _ = trained
    with running(LocalBackend(shared_models / "hf" / "stories260k"), ServeOptions(logprobs=False)) as url:
        result = _cli("stylometry", "attribute", url, "--api-model", "m", "--registry", str(path),
                      "--cache", str(tmp_path / "q.sqlite"))
    assert result["overall"]["decision"] == "unknown"
    assert result["endpoint"]["api"] == "completions" and result["endpoint"]["completions"] == 160


def test_a_damaged_classifier_or_a_missing_one_is_one_line(trained, tmp_path, victim):
    path, _, _ = trained
    empty = tmp_path / "empty.sqlite"
    with Registry(empty, create=True) as reg:
        reg.add(victim, name="only", methods=[])
    code = tmp_path / "x.py"
    code.write_text("def f():\n    return 1\n")
    done = subprocess.run([CLI, "stylometry", "attribute", str(code), "--registry", str(empty)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "no stylometry classifier" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([CLI, "stylometry", "train", "--registry", str(empty)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and "at least two models" in done.stderr
    binary = tmp_path / "b.py"
    binary.write_bytes(b"\xff\xfe\x00")
    done = subprocess.run([CLI, "stylometry", "attribute", str(binary), "--registry", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "not UTF-8" in done.stderr


def test_the_classifier_survives_its_bytes_and_refuses_garbage():
    import numpy as np

    from llm_lineage.errors import LineageError
    from llm_lineage.stylometry import StyleClassifier, attribute, train

    samples = {"x": [(i, f"def f{i}():\n    return {i} + {i}\n") for i in range(8)],
               "y": [(i, f"int g{i}(void) {{ return {i} * {i}; }}") for i in range(8)]}
    classifier, report = train(samples)
    again = StyleClassifier.from_bytes(classifier.to_bytes())
    texts = {"p": "def f9():\n    return 9 + 9\n", "c": "int g9(void) { return 9 * 9; }"}
    np.testing.assert_allclose(again.probabilities(list(texts.values())),
                               classifier.probabilities(list(texts.values())), atol=1e-5)
    each, _ = attribute(again, texts)
    assert [a.ranking[0][0] for a in each] == ["x", "y"]
    with pytest.raises(LineageError, match="cannot be read"):
        StyleClassifier.from_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
