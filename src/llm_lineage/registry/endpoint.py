"""Black-box search of an API suspect against the registry's owner keys (not available yet)."""

from __future__ import annotations

from ..errors import RegistryError
from .search import SearchResult
from .store import Registry


def search_endpoint(url: str, registry: Registry, **options: object) -> SearchResult:
    """Endpoint suspects are not searchable yet: the shared query campaign is unfinished."""
    raise RegistryError(f"searching an endpoint ({url}) is not supported by this version",
                        hint="search a model directory, or use `llm-lineage verify` against one owner key")
