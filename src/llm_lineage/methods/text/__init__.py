"""The ``text`` method: attribution from sampled text alone (``method.py``), the versioned prompt set
and sampling (``sample.py``), per-byte scoring under any tokenizer (``score.py``), and the
endpoint campaign (``endpoint.py``)."""

from .endpoint import TextCampaignReport, verify_text_endpoint
from .method import TEXT, TextConfig, TextMethod, TextResult
from .sample import PROMPT_SET, SamplingPlan, TextSample, sample_endpoint, sample_local

__all__ = ["PROMPT_SET", "TEXT", "SamplingPlan", "TextCampaignReport", "TextConfig", "TextMethod", "TextResult",
           "TextSample", "sample_endpoint", "sample_local", "verify_text_endpoint"]
