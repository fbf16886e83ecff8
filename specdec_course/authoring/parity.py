"""API parity between the reference and the student stubs, by AST.

Checks that every public name in ``solutions/specdec`` exists in
``src/specdec`` with the same signature and docstring, that every stub body is
a docstring plus the registered ``raise NotImplementedError(...)`` (a function
students are given whole, listed in ``tasks.GIVEN``, keeps the reference's
body instead), and that nothing under ``src/`` imports the solutions.
"""

from __future__ import annotations

import ast
from pathlib import Path

from specdec_course.authoring.stubs import FunctionNode, has_function_body, is_public
from specdec_course.core.impl import IMPLEMENTATIONS
from specdec_course.core.tasks import GIVEN, stub_message


def _signature(node: FunctionNode) -> str:
    returns = ast.unparse(node.returns) if node.returns else ""
    decorators = ",".join(ast.unparse(d) for d in node.decorator_list)
    return f"[{decorators}] ({ast.unparse(node.args)}) -> {returns}"


def public_api(tree: ast.Module, module: str) -> dict[str, tuple[str, ast.AST]]:
    """Map each public qualified name to (a comparable description, its node)."""
    api: dict[str, tuple[str, ast.AST]] = {}
    for node in tree.body:
        if isinstance(node, FunctionNode) and is_public(node.name):
            api[f"{module}.{node.name}"] = (f"def {_signature(node)} doc={ast.get_docstring(node)!r}", node)
        elif isinstance(node, ast.ClassDef) and is_public(node.name):
            if not has_function_body(node):
                api[f"{module}.{node.name}"] = (f"class {ast.unparse(node)}", node)
                continue
            head = f"class bases={[ast.unparse(b) for b in node.bases]} doc={ast.get_docstring(node)!r}"
            api[f"{module}.{node.name}"] = (head, node)
            for member in node.body:
                if isinstance(member, FunctionNode) and is_public(member.name):
                    desc = f"def {_signature(member)} doc={ast.get_docstring(member)!r}"
                    api[f"{module}.{node.name}.{member.name}"] = (desc, member)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and is_public(t.id):
                    api[f"{module}.{t.id}"] = (f"value {ast.unparse(node)}", node)
    return api


def _given_problems(qualname: str, node: FunctionNode, ref: ast.AST) -> list[str]:
    # A given function is copied whole: its stub body must be the reference's, statement for
    # statement (a stray region would leave a raise, a hand edit some other body).
    if isinstance(ref, FunctionNode) and [ast.dump(n) for n in node.body] == [
        ast.dump(n) for n in ref.body
    ]:
        return []
    return [f"src stub {qualname}: a given function (tasks.GIVEN) must keep the reference's body"]


def _stub_problems(qualname: str, node: FunctionNode) -> list[str]:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    try:
        expected = stub_message(qualname)
    except KeyError as err:
        return [str(err)]
    ok = (
        len(body) == 1
        and isinstance(body[0], ast.Raise)
        and isinstance(body[0].exc, ast.Call)
        and ast.unparse(body[0].exc.func) == "NotImplementedError"
        and len(body[0].exc.args) == 1
        and isinstance(body[0].exc.args[0], ast.Constant)
        and body[0].exc.args[0].value == expected
    )
    if ok:
        return []
    return [f"src stub {qualname}: body must be its docstring plus raise NotImplementedError({expected!r})"]


def parity_problems(src: Path | None = None, solutions: Path | None = None) -> list[str]:
    """Every parity violation between the two task packages (empty when fine)."""
    src = src or IMPLEMENTATIONS["src"] / "specdec"
    solutions = solutions or IMPLEMENTATIONS["solutions"] / "specdec"
    problems: list[str] = []
    src_files = {p.name for p in src.glob("*.py")}
    ref_files = {p.name for p in solutions.glob("*.py")}
    for name in sorted(ref_files - src_files):
        problems.append(f"solutions/specdec/{name} has no student stub src/specdec/{name}")
    for name in sorted(src_files - ref_files):
        problems.append(f"src/specdec/{name} has no reference solutions/specdec/{name}")
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n == "solutions" or n.startswith("solutions.") for n in names):
                problems.append(f"{path.relative_to(src.parent.parent)} imports the solutions package")
    for name in sorted(src_files & ref_files):
        module = name[:-3]
        ref_api = public_api(ast.parse((solutions / name).read_text()), module)
        src_api = public_api(ast.parse((src / name).read_text()), module)
        for qual in sorted(set(ref_api) - set(src_api)):
            problems.append(f"{qual} is public in solutions/ but missing from src/")
        for qual in sorted(set(src_api) - set(ref_api)):
            problems.append(f"{qual} is public in src/ but not in solutions/")
        for qual in sorted(set(ref_api) & set(src_api)):
            if ref_api[qual][0] != src_api[qual][0]:
                problems.append(f"{qual}: signature or docstring differs between src/ and solutions/")
            node = src_api[qual][1]
            if module != "__init__" and isinstance(node, FunctionNode):
                if qual in GIVEN or any(qual.startswith(f"{g}.") for g in GIVEN):
                    problems.extend(_given_problems(qual, node, ref_api[qual][1]))
                else:
                    problems.extend(_stub_problems(qual, node))
    return problems
