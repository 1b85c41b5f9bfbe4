"""The stylometry classifier: n-gram TF-IDF features, a linear model, calibration and open set.

Features: character n-grams (2-4, within word boundaries: indentation, operators, naming) and
word n-grams (1-2), each block TF-IDF weighted (sublinear tf, L2 norm), vocabularies learnt on
the training texts. Model: multinomial logistic regression. Held-out texts (every fourth
prompt: the classifier is judged on prompts it never saw) fix a softmax temperature (minimum
negative log-likelihood).

Open set. Probabilities cannot say "none of these": a softmax over two models gives one of them at
least 0.5 for any text at all. So a text is also measured by its cosine similarity to each
model's centroid (the mean TF-IDF vector of its training texts). A single text goes to the most
probable model whose test it passes: similarity at least the 5th percentile of that model's own
held-out texts (about 95% of a registered model's texts pass); ``unknown`` when it passes none. A set of n
texts (an endpoint's sample, several files) keeps model k when its mean similarity is at least
``mean_k - 1.645 sd_k sqrt(1/n + 1/m)`` of k's m held-out texts (one-sided 5%, normal
approximation, the held-out mean's own error included) and goes to the most probable kept model,
or is ``unknown`` when none is kept.

Everything the classifier needs is arrays and JSON: it is saved as one safetensors file (the
vocabularies and numbers in its metadata), never pickled.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, LineageError

FORMAT = "llm-lineage-stylometry/1"
BLOCKS = {"char": ("char_wb", (2, 4), 20_000), "word": ("word", (1, 2), 10_000)}
HELD_OUT_EVERY = 4      # prompts i with i % 4 == 3 are held out
ACCEPT_KNOWN = 0.95     # share of a registered model's held-out texts its open-set test keeps
OPEN_SET_Z = 1.645      # one-sided 5%: a set of texts keeps model k unless its mean p_k is this far below k's own


@dataclass(frozen=True)
class StyleClassifier:
    labels: tuple[str, ...]
    vocabularies: dict[str, dict[str, int]]
    idf: dict[str, np.ndarray]
    coef: np.ndarray          # (labels, features)
    intercept: np.ndarray     # (labels,)
    temperature: float
    info: dict[str, Any] = field(default_factory=dict)
    centroids: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (labels, features), unit norm
    own_similarity: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (labels, [q05, mean, sd, m])

    def features(self, texts: Sequence[str]) -> Any:
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        blocks = []
        for name, (analyzer, ngrams, _) in BLOCKS.items():
            counts = CountVectorizer(analyzer=analyzer, ngram_range=ngrams, lowercase=False,
                                     vocabulary=self.vocabularies[name]).transform(texts).astype(np.float64)
            counts.data = 1.0 + np.log(counts.data)  # sublinear tf
            blocks.append(normalize(counts @ sp.diags(self.idf[name])))
        return sp.hstack(blocks).tocsr()

    def similarities(self, texts: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each text to each model's centroid, (texts, labels)."""
        x = self.features(texts)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return np.asarray(x @ self.centroids.T) / np.maximum(norms, 1e-12)[:, None]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, (texts, labels)."""
        logits = np.asarray(self.features(texts) @ self.coef.T) + self.intercept
        return _softmax(logits / self.temperature)

    def to_bytes(self) -> bytes:
        from safetensors.numpy import save

        tensors: dict[str, np.ndarray] = {"coef": np.ascontiguousarray(self.coef, dtype=np.float32),
                   "intercept": self.intercept.astype(np.float32), "centroids": self.centroids.astype(np.float32),
                   "own_similarity": self.own_similarity.astype(np.float64),
                   **{f"idf/{k}": v.astype(np.float32) for k, v in self.idf.items()}}
        meta = {"format": FORMAT, "labels": list(self.labels), "vocabularies": self.vocabularies,
                "temperature": self.temperature, "info": self.info}
        return save(tensors, metadata={"llm_lineage": json.dumps(meta, sort_keys=True)})

    @classmethod
    def from_bytes(cls, data: bytes) -> StyleClassifier:
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            tensors = load(data)
            meta = json.loads(_metadata(data)["llm_lineage"])
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            labels = tuple(meta["labels"])
            coef = tensors["coef"].astype(np.float64)
            if coef.shape[0] != len(labels):
                raise ValueError("labels and coefficients disagree")
            return cls(labels, {k: {str(t): int(i) for t, i in v.items()} for k, v in meta["vocabularies"].items()},
                       {k: tensors[f"idf/{k}"].astype(np.float64) for k in BLOCKS}, coef,
                       tensors["intercept"].astype(np.float64), float(meta["temperature"]),
                       dict(meta.get("info", {})),
                       tensors["centroids"].astype(np.float64), tensors["own_similarity"].astype(np.float64))
        except (ValueError, KeyError, TypeError, AttributeError, SafetensorError) as exc:
            raise LineageError(f"the stored stylometry classifier cannot be read ({exc})",
                               hint="train it again: llm-lineage stylometry train") from None


@dataclass(frozen=True)
class TrainingReport:
    labels: tuple[str, ...]
    n_train: int
    n_held_out: int
    held_out_accuracy: dict[str, float]   # per label, closed set (argmax)
    held_out_accepted: dict[str, float]   # per label, share attributed, not "unknown" (open set)
    temperature: float


@dataclass(frozen=True)
class Attribution:
    """One text's (or a set's) ranking: labels with calibrated probabilities, best first."""

    source: str
    ranking: list[tuple[str, float]]
    decision: str            # the most probable model the open-set test kept, or "unknown"


def train(samples: Mapping[str, Sequence[tuple[int, str]]], *, info: dict[str, Any] | None = None,
          seed: int = 0) -> tuple[StyleClassifier, TrainingReport]:
    """Fit on ``samples``: label -> [(prompt index, text)]; texts of held-out prompts calibrate."""
    from scipy.optimize import minimize_scalar
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    labels = tuple(sorted(samples))
    if len(labels) < 2:
        raise InputError(f"stylometry needs at least two models to tell apart, got {len(labels)}")
    train_texts, train_y, held_texts, held_y = [], [], [], []
    for y, label in enumerate(labels):
        for prompt_index, text in samples[label]:
            if prompt_index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1:
                held_texts.append(text)
                held_y.append(y)
            else:
                train_texts.append(text)
                train_y.append(y)
    if not held_texts or not train_texts:
        raise InputError("too few prompts: stylometry holds out every fourth prompt for calibration")
    vocabularies, idf = {}, {}
    for name, (analyzer, ngrams, size) in BLOCKS.items():
        fitted = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, lowercase=False, sublinear_tf=True,
                                 max_features=size).fit(train_texts)
        vocabularies[name] = {str(t): int(i) for t, i in fitted.vocabulary_.items()}
        idf[name] = np.asarray(fitted.idf_, dtype=np.float64)
    empty = StyleClassifier(labels, vocabularies, idf, np.zeros((len(labels), 0)), np.zeros(len(labels)), 1.0)
    model = LogisticRegression(C=10.0, max_iter=3000, random_state=seed)
    model.fit(empty.features(train_texts), np.asarray(train_y))
    coef, intercept = model.coef_, model.intercept_
    if len(labels) == 2:  # sklearn keeps one row for two classes: the softmax form has two
        coef, intercept = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    held_logits = np.asarray(empty.features(held_texts) @ coef.T) + intercept
    held = np.asarray(held_y)

    def nll(log_t: float) -> float:
        p = _softmax(held_logits / math.exp(log_t))
        return float(-np.mean(np.log(p[np.arange(len(held)), held] + 1e-12)))

    temperature = math.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x)
    probs = _softmax(held_logits / temperature)
    x_train = empty.features(train_texts)
    y_train = np.asarray(train_y)
    centroids = np.vstack([np.asarray(x_train[y_train == y].mean(axis=0)) for y in range(len(labels))])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    classifier = StyleClassifier(labels, vocabularies, idf, coef, intercept, temperature, dict(info or {}), centroids)
    similarity = classifier.similarities(held_texts)
    own = [similarity[held == y, y] for y in range(len(labels))]
    classifier = dataclasses.replace(classifier, own_similarity=np.array(
        [[np.quantile(o, 1 - ACCEPT_KNOWN), o.mean(), o.std(ddof=1) if len(o) > 1 else 0.0, len(o)] for o in own]))
    accepted_by_similarity = similarity[np.arange(len(held)), probs.argmax(axis=1)] >= \
        classifier.own_similarity[probs.argmax(axis=1), 0]
    predicted = probs.argmax(axis=1)
    accuracy = {label: float(np.mean(predicted[held == y] == y)) for y, label in enumerate(labels)}
    accepted = {label: float(np.mean(accepted_by_similarity[held == y])) for y, label in enumerate(labels)}
    report = TrainingReport(labels, len(train_texts), len(held_texts), accuracy, accepted, temperature)
    return classifier, report


def attribute(classifier: StyleClassifier, texts: Mapping[str, str]) -> tuple[list[Attribution], Attribution]:
    """Each named text's attribution, and the set's: the mean of the texts' calibrated probabilities."""
    if not texts:
        raise InputError("nothing to attribute: no text given")
    names = list(texts)
    listed = [texts[n] for n in names]
    probs, similarity = classifier.probabilities(listed), classifier.similarities(listed)
    q05, mean, sd, m = classifier.own_similarity.T
    each = [_attribution(classifier, name, row, similarity[i] >= q05) for i, (name, row) in enumerate(zip(names, probs,
                                                                                                           strict=True))]
    n = len(names)
    kept = similarity.mean(axis=0) >= mean - OPEN_SET_Z * sd * np.sqrt(1 / n + 1 / np.maximum(m, 1))
    return each, _attribution(classifier, f"all {n} text(s)", probs.mean(axis=0), kept)


def _attribution(classifier: StyleClassifier, source: str, row: np.ndarray, kept: np.ndarray) -> Attribution:
    """The ranking by probability; the decision is the most probable model the open-set test kept."""
    order = np.argsort(-row, kind="stable")
    ranking = [(classifier.labels[i], float(row[i])) for i in order]
    best = next((classifier.labels[i] for i in order if kept[i]), "unknown")
    return Attribution(source, ranking, best)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _metadata(data: bytes) -> dict[str, str]:
    """The safetensors header's ``__metadata__`` (the header length is checked against the bytes)."""
    if len(data) < 8:
        raise ValueError("not a safetensors file")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError("header longer than the file")
    return dict(json.loads(data[8:8 + n]).get("__metadata__") or {})
