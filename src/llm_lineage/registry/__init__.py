"""A registry of owner fingerprints (SQLite + content-addressed blobs) and one-to-many search."""

from .archive import export_registry, import_registry
from .search import Candidate, SearchResult, search
from .store import Entry, Registry, default_path

__all__ = ["Candidate", "Entry", "Registry", "SearchResult", "default_path", "export_registry",
           "import_registry", "search"]
