"""Generate student stubs from the reference by AST.

``python -m specdec_course.authoring.stubs`` rewrites ``src/specdec`` from
``solutions/specdec``: module docstrings, imports, constants, data classes,
signatures and docstrings are kept; every public function or method body
becomes its docstring plus ``raise NotImplementedError(<task message>)``;
private helpers are dropped (students write their own).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from specdec_course.core.impl import IMPLEMENTATIONS
from specdec_course.core.tasks import stub_message

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def is_public(name: str) -> bool:
    """Public names and dunders (``__init__``) are part of the task API."""
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def has_function_body(node: ast.ClassDef) -> bool:
    """Whether a class defines methods (a pure data class is copied as is)."""
    return any(isinstance(n, FunctionNode) for n in node.body)


def _stub_function(node: FunctionNode, qualname: str) -> FunctionNode:
    body: list[ast.stmt] = []
    doc = ast.get_docstring(node, clean=False)
    if doc is not None:
        body.append(ast.Expr(ast.Constant(doc)))
    body.append(
        ast.Raise(exc=ast.Call(ast.Name("NotImplementedError"), [ast.Constant(stub_message(qualname))], []))
    )
    node.body = body
    return node


def stub_module(source: str, module: str) -> str:
    """Return the stub source for one reference module.

    Args:
        source: the reference module's source text.
        module: its name inside ``specdec`` (e.g. ``"sampling"``), used to
            look up which chapter each function belongs to.
    """
    tree = ast.parse(source)
    kept: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, FunctionNode):
            if is_public(node.name):
                kept.append(_stub_function(node, f"{module}.{node.name}"))
        elif isinstance(node, ast.ClassDef) and has_function_body(node):
            if not is_public(node.name):
                continue
            members: list[ast.stmt] = []
            for member in node.body:
                if isinstance(member, FunctionNode):
                    if is_public(member.name):
                        members.append(_stub_function(member, f"{module}.{node.name}.{member.name}"))
                else:
                    members.append(member)
            node.body = members
            kept.append(node)
        else:
            kept.append(node)
    tree.body = kept
    text = _space_out(ast.unparse(tree))
    header = "# Student stub: fill in the functions below. Generated from the reference by\n" \
             "# `python -m specdec_course.authoring.stubs`; signatures and docstrings must stay as they are.\n"
    return header + text + "\n"


def _space_out(text: str) -> str:
    # ast.unparse drops blank lines; put PEP 8 spacing back so stubs read well.
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.lstrip()
        starts_block = stripped.startswith(("def ", "class ", "@", "async def "))
        if starts_block and out and not out[-1].lstrip().startswith("@"):
            while out and not out[-1].strip():
                out.pop()
            out.extend([""] * (2 if line == stripped else 1))
        out.append(line)
    return "\n".join(out)


def write_stubs(dest: Path | None = None) -> list[Path]:
    """Regenerate every stub module; returns the files written."""
    src_root = IMPLEMENTATIONS["solutions"] / "specdec"
    dest = dest or IMPLEMENTATIONS["src"] / "specdec"
    written = []
    for path in sorted(src_root.glob("*.py")):
        out = dest / path.name
        if path.name == "__init__.py":
            out.write_text(path.read_text())
        else:
            out.write_text(stub_module(path.read_text(), path.stem))
        written.append(out)
    return written


if __name__ == "__main__":
    for p in write_stubs(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print("wrote", p)
