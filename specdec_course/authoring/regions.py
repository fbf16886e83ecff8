"""Solution regions: the parts of the reference that students write.

Inside a task function the reference marks the code students write with two
comment lines at the body's indentation::

    def sample_token(...):
        \"\"\"Docstring (kept in the stub).\"\"\"
        # TODO(W1D1): pick the next token from one row of logits.   (kept: the plan)
        #   1. ...
        # BEGIN SOLUTION
        ...the reference code...
        # END SOLUTION

A region outside any function must hold whole definitions (a private helper
the student writes themselves, at module or class level) and is removed from
the stub. The stub generator (``stubs.py``) and the handout's leak check both
read regions through :func:`parse_regions`.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class Region:
    """One ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` block of a reference module.

    Attributes:
        start: 1-based line number of the ``# BEGIN SOLUTION`` marker.
        end: 1-based line number of the ``# END SOLUTION`` marker.
        indent: the markers' indentation (the whitespace before ``#``).
        body: the text strictly between the two markers (lines joined with
            ``"\\n"``, ending with one).
        qualname: the function the region sits in, as ``"module.func"`` or
            ``"module.Class.method"``; ``None`` for a region of whole
            definitions outside any function (removed from the stub).
    """

    start: int
    end: int
    indent: str
    body: str
    qualname: str | None


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _first_line(node: ast.stmt) -> int:
    # A decorated definition starts at its first decorator, not at `def`.
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _functions(tree: ast.Module, module: str) -> list[tuple[str, ast.AST]]:
    found: list[tuple[str, ast.AST]] = []

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, _FUNCTIONS):
                found.append((f"{prefix}.{node.name}", node))
                walk(node.body, f"{prefix}.{node.name}")
            elif isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}.{node.name}")

    walk(tree.body, module)
    return found


def _marker_spans(lines: list[str], where) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    open_at: int | None = None
    open_indent = ""
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text == BEGIN:
            if open_at is not None:
                raise ValueError(
                    f"{where(number)}: nested {BEGIN}: the region opened at line {open_at} "
                    f"is not closed yet (add {END} before opening another)"
                )
            open_at, open_indent = number, _indent_of(line)
        elif text == END:
            if open_at is None:
                raise ValueError(f"{where(number)}: {END} without a {BEGIN} above it")
            if _indent_of(line) != open_indent:
                raise ValueError(
                    f"{where(number)}: {END} must be indented like the {BEGIN} at line {open_at}"
                )
            spans.append((open_at, number, open_indent))
            open_at = None
        elif text.startswith("#") and ("BEGIN SOLUTION" in text or "END SOLUTION" in text):
            raise ValueError(
                f"{where(number)}: malformed solution marker {text!r}: "
                f"write exactly {BEGIN!r} or {END!r} on a line of its own"
            )
    if open_at is not None:
        raise ValueError(f"{where(open_at)}: {BEGIN} is never closed by {END}")
    return spans


def parse_regions(text: str, module: str) -> list[Region]:
    """Find every solution region of one reference module, in order.

    Args:
        text: the module's source text.
        module: its name inside ``specdec`` (e.g. ``"verify"``): the prefix of
            each region's ``qualname`` and the file named in errors.

    Returns:
        The regions, sorted by line.

    Raises:
        ValueError: naming ``specdec/<module>.py:<line>`` for a nested,
            unclosed or unopened marker, an END indented unlike its BEGIN, a
            malformed marker, an empty region, a region that cuts a statement
            in two, or a region outside any function that is not made of
            whole definitions (``def`` / ``class``).
    """

    def where(line: int) -> str:
        return f"specdec/{module}.py:{line}"

    lines = text.splitlines()
    spans = _marker_spans(lines, where)
    if not spans:
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        raise ValueError(f"{where(err.lineno or 0)}: not valid Python: {err.msg}") from err
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    functions = _functions(tree, module)
    regions: list[Region] = []
    for start, end, indent in spans:
        inner = lines[start : end - 1]
        code = [
            start + 1 + i
            for i, line in enumerate(inner)
            if line.strip() and not line.strip().startswith("#")
        ]
        if not code:
            raise ValueError(f"{where(start)}: empty solution region (no code before line {end})")
        for node in statements:
            first, last = _first_line(node), node.end_lineno or node.lineno
            if start < first < end and last > end:
                raise ValueError(
                    f"{where(first)}: the statement starting here runs past {END} at line {end}"
                )
            if first < start <= last < code[-1]:
                raise ValueError(
                    f"{where(start)}: {BEGIN} cuts the statement of lines {first}-{last} in two"
                )
        enclosing = [
            (qual, node)
            for qual, node in functions
            if node.lineno < start
            and code[0] <= (node.end_lineno or node.lineno)
            and node.col_offset < len(indent)
        ]
        qualname = max(enclosing, key=lambda f: f[1].lineno)[0] if enclosing else None
        body = "\n".join(inner) + "\n"
        if qualname is None:
            try:
                dedented = ast.parse(textwrap.dedent(body))
            except SyntaxError as err:
                raise ValueError(
                    f"{where(start)}: a solution region outside any function must hold whole "
                    f"definitions (def/class); this one is not valid Python on its own"
                ) from err
            strays = [n for n in dedented.body if not isinstance(n, (*_FUNCTIONS, ast.ClassDef))]
            if strays:
                raise ValueError(
                    f"{where(start + strays[0].lineno)}: a solution region outside any function "
                    f"must hold whole definitions (def/class); put this statement in a function "
                    f"or move the markers inside one"
                )
        regions.append(Region(start, end, indent, body, qualname))
    return regions
