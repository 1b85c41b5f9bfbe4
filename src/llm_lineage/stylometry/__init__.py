"""Code stylometry: which registered model wrote this code?

Each registered model writes continuations of a fixed, versioned set of coding prompts
(``prompts.py``, sampled locally like the text method's samples); a classifier of character and
word n-gram TF-IDF features with a multinomial logistic regression (scikit-learn) learns to tell
the models apart (``classifier.py``), after "I Know Which LLM Wrote Your Code Last Summer" (2025),
whose CodeT5 encoder we do not use: the linear model over n-grams is the paper's baseline family
and needs no download. Probabilities are temperature-scaled on held-out prompts; a text whose
best probability falls below the level that 95% of held-out texts of registered models reach is
``unknown`` (open set). The classifier is stored in the registry as one content-addressed
safetensors blob, no pickle.
"""

from .classifier import Attribution, StyleClassifier, TrainingReport, attribute, train
from .prompts import CODE_PROMPT_SET, code_plan
from .service import attribute_endpoint, attribute_sources, stored_classifier, train_registry

__all__ = ["CODE_PROMPT_SET", "Attribution", "StyleClassifier", "TrainingReport", "attribute", "attribute_endpoint",
           "attribute_sources", "code_plan", "stored_classifier", "train", "train_registry"]
