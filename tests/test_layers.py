"""Dependencies point one way: ``outputs`` and ``stats`` know no method; ``--help`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

CHECK = """
import importlib, json, pkgutil, sys
import llm_lineage.{pkg} as pkg
for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
    importlib.import_module(m.name)
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_outputs_import_no_method_no_torch_no_server() -> None:
    loaded = _modules_after(CHECK.format(pkg="outputs"))
    assert not {"torch", "fastapi", "llm_lineage.methods", "transformers"} & loaded


def test_stats_is_pure() -> None:
    loaded = _modules_after(CHECK.format(pkg="stats"))
    assert not {"torch", "fastapi", "llm_lineage.methods", "llm_lineage.zoo", "transformers"} & loaded


def test_help_imports_no_torch_fastapi_or_scipy() -> None:
    code = ("import sys, json\nfrom llm_lineage.cli.app import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))")
    loaded = _modules_after(code)
    assert not {"torch", "fastapi", "scipy", "transformers"} & loaded
