"""llm-lineage: does this suspect language model descend from mine?"""

from .errors import LineageError
from .stats import Verdict
from .weights import open_checkpoint

__version__ = "0.2.0"

__all__ = ["LineageError", "Verdict", "__version__", "open_checkpoint"]
