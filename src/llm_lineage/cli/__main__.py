"""``python -m llm_lineage.cli``: the same as the ``llm-lineage`` command."""

from . import main

main()
