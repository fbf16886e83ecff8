"""Generate the student stubs from the reference's solution regions.

``uv run python -m specdec_course.authoring.stubs [DEST]`` rewrites
``src/specdec`` (or ``DEST``) from ``solutions/specdec``. It works on the
source text, not the AST, so the reference's formatting, comments, blank
lines and TODO plans reach the stub as they are. Each solution region
(see :mod:`specdec_course.authoring.regions`) inside a function becomes
``raise NotImplementedError("<task> is not written yet: see book chapter ...")``
at the region's indentation; a region of whole definitions outside any
function (a private helper the student writes) disappears. Everything else -
module docstring, imports, constants and their comments, data classes,
signatures, docstrings, private helpers students are given - is copied.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from specdec_course.authoring.regions import BEGIN, END, Region, parse_regions
from specdec_course.core.impl import IMPLEMENTATIONS
from specdec_course.core.tasks import chapter_of_task, stub_message

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

LINE_LENGTH = 100  # [tool.ruff] line-length: stubs must pass `ruff check` / `ruff format`

HEADER = (
    "# Your code goes here: replace each `raise NotImplementedError(...)` with the function's\n"
    "# code, following the TODO plan above it. Keep signatures and docstrings as they are.\n"
    "# (Course maintainers generate this file; they change its generator, not the file.)\n"
)


def is_public(name: str) -> bool:
    """Public names and dunders (``__init__``) are part of the task API."""
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def has_function_body(node: ast.ClassDef) -> bool:
    """Whether a class defines methods (a pure data class is copied as is)."""
    return any(isinstance(n, FunctionNode) for n in node.body)


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def raise_lines(indent: str, message: str) -> list[str]:
    """``raise NotImplementedError(message)`` laid out as ``ruff format`` would.

    One line when it fits in :data:`LINE_LENGTH`; else the string alone on
    its own line inside the parentheses; else the message split after its
    colon into two implicitly concatenated strings (still one constant, so
    the parity check reads the exact message).
    """
    one = f"{indent}raise NotImplementedError({_string(message)})"
    if len(one) <= LINE_LENGTH:
        return [one]
    inner = indent + "    "
    if len(inner + _string(message)) <= LINE_LENGTH:
        return [f"{indent}raise NotImplementedError(", inner + _string(message), f"{indent})"]
    head, sep, tail = message.partition(": ")
    parts = [head + sep, tail] if sep else [message]
    return [
        f"{indent}raise NotImplementedError(",
        *(inner + _string(p) for p in parts),
        f"{indent})",
    ]


def _tidy_blank_lines(lines: list[str]) -> list[str]:
    # A removed top-level region can leave blank lines on both sides of it:
    # keep at most two in a row (PEP 8 between top-level definitions) and
    # none at the end of the file, as `ruff format` does.
    out: list[str] = []
    for line in lines:
        if not line.strip() and len(out) >= 2 and not out[-1].strip() and not out[-2].strip():
            continue
        out.append("" if not line.strip() else line)
    while out and not out[-1].strip():
        out.pop()
    return out


def _one_blank_after_imports(lines: list[str]) -> list[str]:
    # isort (ruff's I001) puts ONE blank line after the imports when what follows is not a
    # definition. A removed top-level region can leave its TODO comment block right after the
    # imports, detached from the next definition: then one blank line, not two.
    tree = ast.parse("\n".join(lines))
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if not imports or imports[-1] is tree.body[-1]:
        return lines
    end = imports[-1].end_lineno or 0  # 1-based: the import block's last line
    first = end
    while first < len(lines) and not lines[first].strip():
        first += 1
    last = first
    while last < len(lines) and lines[last].startswith("#"):
        last += 1
    detached = last > first and (last == len(lines) or not lines[last].strip())
    if detached and first - end > 1:
        return lines[: end + 1] + lines[first:]
    return lines


def stub_lines(source: str, module: str, regions: list[Region]) -> list[str]:
    """The stub's lines (without the header): regions replaced or removed."""
    lines = source.splitlines()
    out: list[str] = []
    at = 1  # next 1-based source line to copy
    for region in regions:
        out.extend(lines[at - 1 : region.start - 1])
        if region.qualname is not None:
            out.extend(raise_lines(region.indent, stub_message(region.qualname)))
        elif out and not out[-1].strip():
            # The region was a whole definition: drop it, and the blank lines
            # that followed it when blank lines already precede it.
            nxt = region.end
            while nxt < len(lines) and not lines[nxt].strip():
                nxt += 1
            at = nxt + 1
            continue
        at = region.end + 1
    out.extend(lines[at - 1 :])
    return _one_blank_after_imports(_tidy_blank_lines(out))


def _check_tasks_have_regions(source: str, module: str, regions: list[Region]) -> None:
    # A registered task without a region would be copied into the stub whole:
    # the reference's answer handed to students. Refuse instead.
    covered = {r.qualname for r in regions}
    for qualname in _public_functions(ast.parse(source), module):
        if chapter_of_task(qualname) is not None and qualname not in covered:
            raise ValueError(
                f"specdec/{module}.py: task {qualname} has no {BEGIN} / {END} region; "
                f"the stub would contain the reference code"
            )


def _public_functions(tree: ast.Module, module: str) -> list[str]:
    names = []
    for node in tree.body:
        if isinstance(node, FunctionNode) and is_public(node.name):
            names.append(f"{module}.{node.name}")
        elif isinstance(node, ast.ClassDef) and is_public(node.name):
            names.extend(
                f"{module}.{node.name}.{m.name}"
                for m in node.body
                if isinstance(m, FunctionNode) and is_public(m.name)
            )
    return names


def stub_module(source: str, module: str) -> str:
    """Return the stub source for one reference module.

    Args:
        source: the reference module's source text.
        module: its name inside ``specdec`` (e.g. ``"sampling"``), used to
            look up which chapter each function belongs to.

    Raises:
        ValueError: for malformed solution regions (see
            :func:`~specdec_course.authoring.regions.parse_regions`) or a stub
            that would not be valid Python.
        KeyError: for a region in a function no chapter registers.
    """
    regions = parse_regions(source, module)
    _check_tasks_have_regions(source, module, regions)
    text = HEADER + "\n".join(stub_lines(source, module, regions)) + "\n"
    try:
        ast.parse(text)
    except SyntaxError as err:
        raise ValueError(
            f"the stub of specdec/{module}.py is not valid Python (line {err.lineno}: "
            f"{err.msg}); check the solution regions' placement"
        ) from err
    return text


def write_stubs(dest: Path | None = None) -> list[Path]:
    """Regenerate every stub module; returns the files written."""
    src_root = IMPLEMENTATIONS["solutions"] / "specdec"
    dest = dest or IMPLEMENTATIONS["src"] / "specdec"
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src_root.glob("*.py")):
        out = dest / path.name
        if path.name == "__init__.py":
            out.write_text(path.read_text())
        else:
            out.write_text(stub_module(path.read_text(), path.stem))
        written.append(out)
    return written


def stub_problems(src: Path | None = None, solutions: Path | None = None) -> list[str]:
    """Stubs that differ from what the generator makes now (hand drift or staleness)."""
    solutions = solutions or IMPLEMENTATIONS["solutions"] / "specdec"
    src = src or IMPLEMENTATIONS["src"] / "specdec"
    problems = []
    for path in sorted(solutions.glob("*.py")):
        if path.name == "__init__.py":
            continue
        try:
            expected = stub_module(path.read_text(), path.stem)
        except (ValueError, KeyError) as err:
            problems.append(f"solutions/specdec/{path.name}: cannot generate its stub: {err}")
            continue
        stub = src / path.name
        if not stub.exists() or stub.read_text() != expected:
            problems.append(
                f"src/specdec/{path.name} is not what the generator makes from the reference: "
                f"run `uv run python -m specdec_course.authoring.stubs`"
            )
    return problems


_TODO = re.compile(r"^\s*# TODO\(W(\d+)D(\d+)\): \S")


def todo_plan(source: str, region: Region) -> tuple[str, list[str]] | None:
    """The TODO plan right above a region: ``("W1D4", step lines)``, or ``None``.

    The plan is the block of comment lines ending directly above the
    ``# BEGIN SOLUTION`` marker whose first line is ``# TODO(WnDm): goal``.
    """
    lines = source.splitlines()
    i = region.start - 2  # 0-based index of the line above BEGIN
    block: list[str] = []
    while i >= 0 and lines[i].strip().startswith("#"):
        block.insert(0, lines[i].strip())
        match = _TODO.match(lines[i])
        if match:
            return f"W{match[1]}D{match[2]}", [b for b in block[1:] if re.match(r"#\s+\d+\. ", b)]
        i -= 1
    return None


if __name__ == "__main__":
    for p in write_stubs(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print("wrote", p)
