"""Stylometry against a registry: train from the registered models, attribute files or an endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError, RegistryError
from .classifier import Attribution, StyleClassifier, TrainingReport, attribute, train
from .prompts import CODE_PROMPT_SET, code_plan

KEY = "stylometry"
MAX_FILE_BYTES = 1_000_000  # one source file; a larger one is not one program to attribute


def train_registry(registry: Any, *, names: Sequence[str] | None = None, samples_per_prompt: int = 4,
                   max_tokens: int = 64) -> tuple[TrainingReport, dict[str, str]]:
    """Sample every registered model (or ``names``) on the coding prompts, fit, store in the registry.
    Returns the report and the entries left out, with why."""
    from ..methods.text.method import usable
    from ..methods.text.sample import sample_local
    from ..progress import track

    plan = code_plan(samples_per_prompt=samples_per_prompt, max_tokens=max_tokens)
    entries = registry.entries()
    unknown = sorted(set(names or ()) - {e.name for e in entries})
    if unknown:
        raise RegistryError(f"{registry.location} holds no entry {unknown[0]!r}", hint="see llm-lineage registry list")
    samples, skipped = {}, {}
    for entry in track([e for e in entries if not names or e.name in names], "sampling registered models"):
        source = Path(str(entry.provenance.get("source", "")))
        if not usable(source):
            skipped[entry.name] = f"its source {source} is not a local model directory with a tokenizer"
            continue
        sample = sample_local(source, plan)
        samples[entry.name] = [(int(i), text) for i, text in zip(sample.prompt_index, sample.completions, strict=True)]
    classifier, report = train(samples, info={"prompt_set": CODE_PROMPT_SET, "samples_per_prompt": samples_per_prompt,
                                              "max_tokens": max_tokens, "temperature": plan.temperatures[0]})
    registry.attach(KEY, classifier.to_bytes())
    return report, skipped


def stored_classifier(registry: Any) -> StyleClassifier:
    data = registry.attachment(KEY)
    if data is None:
        raise RegistryError(f"{registry.location} has no stylometry classifier",
                            hint="train one: llm-lineage stylometry train --registry ...")
    return StyleClassifier.from_bytes(data)


def read_sources(paths: Sequence[str | Path]) -> dict[str, str]:
    """Source files as text (UTF-8, at most ``MAX_FILE_BYTES`` each)."""
    texts = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise InputError(f"{path} is not a file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path} is {path.stat().st_size:,} bytes; stylometry reads programs of at most "
                             f"{MAX_FILE_BYTES:,}")
        try:
            texts[str(path)] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path} is not UTF-8 text") from None
    return texts


def attribute_sources(registry: Any, paths: Sequence[str | Path]) -> tuple[list[Attribution], Attribution]:
    return attribute(stored_classifier(registry), read_sources(paths))


def attribute_endpoint(registry: Any, url: str, *, api_model: str | None, api: str = "auto", **endpoint: Any
                       ) -> tuple[list[Attribution], Attribution, Any]:
    """Sample the endpoint on the classifier's coding prompts (cached like every query) and attribute."""
    from ..methods.text.endpoint import TextEndpoint
    from ..methods.text.sample import sample_endpoint

    classifier = stored_classifier(registry)
    info = classifier.info
    with TextEndpoint(url, api_model=api_model, api=api, **endpoint) as text:
        plan = code_plan(samples_per_prompt=int(info.get("samples_per_prompt", 4)),
                         max_tokens=int(info.get("max_tokens", 64)), temperature=float(info.get("temperature", 0.8)),
                         api=text.api)
        sample = sample_endpoint(text.endpoint, plan)
        report = text.report(len(sample.completions))
    texts = {f"{url} sample {i}": c for i, c in enumerate(sample.completions)}
    each, overall = attribute(classifier, texts)
    return each, overall, report
