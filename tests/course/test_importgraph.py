"""The course machinery's import graph: every module imports, layers flow one way, no cycles."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from specdec_course.authoring import importgraph
from specdec_course.authoring.importgraph import PACKAGE_DIR, import_problems, module_graph

MODULES = sorted(module_graph())


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module):
    # A module that fails to import (a stale path after a move) breaks a command only
    # when someone runs it; import them all here.
    importlib.import_module(module)


def test_the_course_packages_are_clean():
    assert import_problems() == [], "fix the imports listed (see ARCHITECTURE.md for the layer rule)"


def test_no_module_is_much_over_400_lines():
    big = {str(p.relative_to(PACKAGE_DIR)): n for p in PACKAGE_DIR.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 450}
    assert not big, f"split these modules by job (ARCHITECTURE.md): {big}"


def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "specdec_course"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_planted_cycle_is_reported(tmp_path):
    root = _fake_package(tmp_path, {
        "bench/__init__.py": "",
        "bench/a.py": "from specdec_course.bench.b import x\n",
        "bench/b.py": "def x():\n    from specdec_course.bench import a  # lazy imports count\n",
    })
    problems = importgraph.import_problems(root)
    assert any(p.startswith("import cycle:") and "bench.a" in p and "bench.b" in p for p in problems), problems


def test_an_upward_import_is_reported(tmp_path):
    root = _fake_package(tmp_path, {
        "core/__init__.py": "",
        "core/x.py": "import specdec_course.bench.y\n",
        "bench/__init__.py": "",
        "bench/y.py": "from specdec_course.core import x\n",
    })
    problems = importgraph.import_problems(root)
    assert any("core may import only nothing of ours" in p for p in problems), problems


def test_a_package_outside_the_layer_table_is_reported(tmp_path):
    root = _fake_package(tmp_path, {"misc/__init__.py": "", "misc/z.py": ""})
    assert any("'misc' is not in the layer table" in p for p in importgraph.import_problems(root))


def test_a_clean_fake_package_passes(tmp_path):
    root = _fake_package(tmp_path, {
        "core/__init__.py": "", "core/x.py": "",
        "api/__init__.py": "", "api/y.py": "from specdec_course.core.x import *\n",
    })
    assert importgraph.import_problems(root) == []
