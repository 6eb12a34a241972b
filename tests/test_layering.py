"""The one-way import rule between packages, and lazy heavy dependencies."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kg", "linking", "parser", "retrieval", "kgsearch")
#: What each package may import from the others (DESIGN.md, "Layers").
ALLOWED = {
    "kg": set(),
    "linking": {"kg"},
    "parser": {"kg", "linking"},
    "retrieval": {"kg", "linking", "parser"},
    "kgsearch": {"kg", "linking", "parser", "retrieval"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = (_imports(path) & set(PACKAGES)) - ALLOWED[package] - {package}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, f"{package} may only import {sorted(ALLOWED[package])}: " + "; ".join(offenders)


def test_heavy_dependencies_are_lazy():
    code = (
        "import sys, kg, linking, parser, retrieval, kgsearch.cli, kgsearch.engine\n"
        "heavy = ['torch', 'dlib', 'faster_whisper', 'elasticsearch', 'transformers', 'SPARQLWrapper', 'spacy']\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""
