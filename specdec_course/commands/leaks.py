"""The handout's leak check: nothing in a student repository reveals the reference.

No solution region's code (normalised AST) may appear in any ``.py`` file, no text may point
at the reference or the hidden tests, no instructor trace may remain in what students read,
and no cache or compiled file may ship. ``specdec handout`` and ``specdec check`` run it.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections import deque
from pathlib import Path

from specdec_course.authoring.regions import parse_regions
from specdec_course.core.impl import IMPLEMENTATIONS

#: Never shipped anywhere: caches, compiled files, build output.
CACHES = {
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".venv",
    "bench-results",
    "grade-results",
    ".DS_Store",
}
#: Text that points at the reference or the hidden tests (student-facing files).
POINTERS = re.compile(r"\bsolutions[/\\.]|\bimport solutions\b|tests/hidden|rubric\.toml")
#: The reference's name, which no shipped file may hold, the course machinery included.
REFERENCE_NAME = re.compile(r"\bsolutions\b")
#: Instructor traces in what students read (stubs, tests, book, the modules they import):
#: a stub "generated from the reference", the hidden tests, internal issue numbers, a command
#: commented "# the reference ...". The CLI and the grading plugin may name the hidden tests.
TRACES = re.compile(
    r"generated from the reference|\bhidden tests?\b|\bissues? \d+\b|#\s*the reference\b", re.I
)
#: Shipped machinery exempt from TRACES (instructors' command help, the grading plugin).
TRACE_EXEMPT = ("specdec_course/commands/", "specdec_course/grading/")
#: Solution regions smaller than this many AST nodes are too generic to be a leak
#: (``return self._k`` appears in any class with a ``_k``).
MIN_NODES = 15


def _shape(node: object, memo: dict[int, int]) -> int:
    """A hash of a syntax tree's normalised form: what ``ast.dump`` shows, without positions.

    Computed bottom-up with a memo, so fingerprinting every statement of a file costs one walk
    (``ast.dump`` per statement re-dumps every nested body: measured 2.8 s per handout).
    """
    if isinstance(node, ast.AST):
        key = id(node)
        if key not in memo:
            memo[key] = hash(
                (type(node).__name__, *(_shape(getattr(node, f, None), memo) for f in node._fields))
            )
        return memo[key]
    if isinstance(node, list):
        return hash(tuple(_shape(item, memo) for item in node))
    return hash((type(node).__name__, repr(node)))


def solution_fingerprints() -> list[tuple[str, list[int]]]:
    """``(qualname, [shape hash of each statement])`` of every sizeable solution region."""
    found = []
    for path in sorted((IMPLEMENTATIONS["solutions"] / "specdec").glob("*.py")):
        for region in parse_regions(path.read_text(), path.stem):
            tree = ast.parse(textwrap.dedent(region.body))
            if sum(1 for _ in ast.walk(tree)) >= MIN_NODES:
                shapes = [_shape(s, {}) for s in tree.body]
                found.append((region.qualname or f"{path.stem} (module level)", shapes))
    return found


def _statement_lists(tree: ast.Module):
    """Every non-empty statement list, outermost first; never descends into expressions."""
    queue = deque([tree.body] if tree.body else [])
    while queue:
        body = queue.popleft()
        yield body
        for stmt in body:
            for node in (stmt, *getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ())):
                for name in ("body", "orelse", "finalbody"):
                    inner = getattr(node, name, None)
                    if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                        queue.append(inner)


def leak_problems(dest: Path) -> list[str]:
    """Everything in ``dest`` that reveals the reference or the hidden tests."""
    problems = []
    prints = solution_fingerprints()
    for path in sorted(p for p in dest.rglob("*") if ".git" not in p.relative_to(dest).parts):
        rel = path.relative_to(dest)
        if path.is_dir():
            if path.name in ("solutions", "hidden") or path.name in CACHES:
                problems.append(f"{rel}/: a folder the handout must not have")
            continue
        if path.suffix in (".pyc", ".pyo") or "solution" in path.name.lower():
            problems.append(f"{rel}: a file the handout must not have")
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        # The course machinery may mention where hidden tests would live (pytest must not
        # collect them); student-facing files (stubs, tests, book, README) may not. No file,
        # the machinery included, may name the reference.
        machinery = rel.parts[0] == "specdec_course" or rel.name == "pyproject.toml"
        pointing = [REFERENCE_NAME] if machinery else [REFERENCE_NAME, POINTERS]
        if not rel.as_posix().startswith(TRACE_EXEMPT):
            pointing.append(TRACES)
        # Neither pattern spans lines: a file that matches nowhere is not read line by line.
        if any(pat.search(text) for pat in pointing):
            for number, line in enumerate(text.splitlines(), 1):
                if any(pat.search(line) for pat in pointing):
                    problems.append(f"{rel}:{number}: points at the reference: {line.strip()[:80]}")
        if path.suffix != ".py":
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        # One pass over the statement lists finds both the imports and the solution bodies.
        imports, copies = [], []
        memo: dict[int, int] = {}
        for body in _statement_lists(tree):
            for node in body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                    if any(n.split(".")[0] == "solutions" for n in names):
                        imports.append(f"{rel}:{node.lineno}: imports the reference package")
            dumps = [_shape(s, memo) for s in body]
            for qualname, region in prints:
                n = len(region)
                if any(dumps[i : i + n] == region for i in range(len(dumps) - n + 1)):
                    copies.append(f"{rel}:{body[0].lineno}: holds the solution of {qualname}")
        problems += imports + copies
    return problems
