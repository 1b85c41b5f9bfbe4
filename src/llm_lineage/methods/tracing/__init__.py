"""Independence test with exact p-values (white-box): was the suspect trained independently of the owner?"""

from .config import TracingConfig
from .core import TRACING, TracingFingerprint, TracingMethod, TracingResult, trace, verify

__all__ = ["TRACING", "TracingConfig", "TracingFingerprint", "TracingMethod", "TracingResult", "trace",
           "verify"]
