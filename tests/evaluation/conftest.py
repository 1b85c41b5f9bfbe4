"""The harness is exercised with ``head-cosine`` from ``llm_lineage.testing``: a real (if weak) method
registered only inside tests, so the harness's mechanics (caching, orientation, access-mode
variants, n/a pairs, metrics) are tested independently of the method packages.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def head_cosine():
    """Registers ``head-cosine`` for one test; yields the list of its (access, suspect) calls."""
    from llm_lineage.testing import installed

    with installed("head-cosine") as methods:
        yield methods["head-cosine"].calls
