"""What a task module may use: a static check of every submitted ``specdec/*.py`` (AST).

Task code needs arrays, maths and the course's student-facing API, nothing else. The grader
refuses a module that reaches further (the file system, processes, the interpreter's
internals) before any of it runs; ``specdec test`` runs the same check first, so a student
hears about a violation before submitting. This is the first of several layers (see
``book/src/instructors.md``): the run-time audit hook, the grading tree without the
reference and the tamper checks catch what a static check cannot see.

The rules, each reported as ``file:line: rule``:

* imports only from :data:`ALLOWED_IMPORTS` (a module or its submodules);
* no call of :data:`FORBIDDEN_CALLS` (``exec``, ``eval``, ``open``, ``globals``...);
* no dunder name or attribute except :data:`ALLOWED_DUNDERS` (``__subclasses__``,
  ``__globals__``, ``__builtins__``, ``__dict__``... are the ways out of a sandbox);
* no attribute named in :data:`FORBIDDEN_ATTRIBUTES` (``sys``, ``os``, frames, file I/O
  such as ``np.load`` or ``mx.save``), however it is reached;
* ``getattr`` / ``hasattr`` only with a literal name that passes the rules above;
* no assignment to an attribute of an imported module (``np.allclose = ...``): patching a
  library would change what the tests compute.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

#: Top-level modules (and their submodules) a task module may import.
ALLOWED_IMPORTS = frozenset(
    {
        "__future__",
        "mlx",
        "mlx_lm.models",
        "numpy",
        "math",
        "cmath",
        "numbers",
        "random",
        "statistics",
        "typing",
        "types",
        "collections",
        "functools",
        "itertools",
        "operator",
        "dataclasses",
        "enum",
        "abc",
        "heapq",
        "bisect",
        "copy",
        "warnings",
        "time",
        "specdec",
        "specdec_course.api",
    }
)
#: Builtins that execute code, reach the interpreter's state or the file system.
FORBIDDEN_CALLS = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "__import__",
        "open",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "setattr",
        "delattr",
        "memoryview",
        "help",
        "exit",
        "quit",
    }
)
#: Dunder names a task module may use (defining or calling ordinary special methods).
ALLOWED_DUNDERS = frozenset(
    {
        "__init__",
        "__post_init__",
        "__name__",
        "__qualname__",
        "__doc__",
        "__all__",
        "__annotations__",
        "__future__",
        "__len__",
        "__iter__",
        "__next__",
        "__call__",
        "__getitem__",
        "__setitem__",
        "__contains__",
        "__repr__",
        "__str__",
        "__eq__",
        "__ne__",
        "__hash__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__bool__",
        "__enter__",
        "__exit__",
        "__add__",
        "__sub__",
        "__mul__",
    }
)
#: Attribute names that lead out of array code, whatever object they are read from.
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        # modules some libraries re-export (``numpy.sys`` and friends)
        "sys",
        "os",
        "subprocess",
        "builtins",
        "importlib",
        "gc",
        "inspect",
        "ctypes",
        "ctypeslib",
        "socket",
        "shutil",
        "pathlib",
        "io",
        "pickle",
        "marshal",
        "threading",
        "multiprocessing",
        "signal",
        "atexit",
        "modules",
        # frames and code objects
        "f_globals",
        "f_locals",
        "f_back",
        "f_builtins",
        "f_code",
        "gi_frame",
        "cr_frame",
        "ag_frame",
        "tb_frame",
        "tb_next",
        "co_code",
        # file I/O of the array libraries (C++ code that no audit hook sees)
        "load",
        "save",
        "savez",
        "savez_compressed",
        "save_safetensors",
        "save_gguf",
        "load_weights",
        "save_weights",
        "export_function",
        "import_function",
        "export_to_dot",
        "fromfile",
        "tofile",
        "memmap",
        "loadtxt",
        "savetxt",
        "genfromtxt",
        "fromregex",
        "system",
        "popen",
    }
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, and which rule."""

    path: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}"


def _allowed_module(name: str) -> bool:
    return any(name == a or name.startswith(a + ".") for a in ALLOWED_IMPORTS)


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _module_aliases(tree: ast.Module) -> set[str]:
    """Names bound to a module (``import numpy as np``) or to something read off one."""
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            aliases.update(a.asname or a.name for a in node.names)
    # ``t = np.testing`` makes ``t`` a module too: follow such aliases to a fixed point.
    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Name, ast.Attribute)):
                if _root_name(node.value) in aliases:
                    for target in node.targets:
                        if isinstance(target, ast.Name) and target.id not in aliases:
                            aliases.add(target.id)
                            changed = True
    return aliases


def _name_rule(name: str, what: str) -> str | None:
    if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDERS:
        return f"the {what} `{name}` reaches the interpreter's internals"
    if what == "attribute" and name in FORBIDDEN_ATTRIBUTES:
        return f"the attribute `.{name}` leads out of array code (files, processes, frames)"
    return None


def check_source(source: str, path: str = "<submission>") -> list[Violation]:
    """Every rule ``source`` breaks (an empty list when it may run).

    Args:
        source: a task module's text.
        path: how reports name the file (``specdec/sampling.py``).
    """
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as err:
        return [Violation(path, err.lineno or 1, f"SyntaxError: {err.msg}")]
    found: list[Violation] = []

    def bad(node: ast.AST, rule: str) -> None:
        found.append(Violation(path, getattr(node, "lineno", 1), rule))

    aliases = _module_aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _allowed_module(alias.name):
                    bad(node, f"imports `{alias.name}`, which task code may not use")
        elif isinstance(node, ast.ImportFrom):
            # `from .sampling import x` inside the package is `specdec.sampling`; two dots
            # or more would leave it.
            module = ("." * node.level) + (node.module or "")
            absolute = f"specdec.{node.module}" if node.level == 1 and node.module else module
            if node.level == 1 and not node.module:
                absolute = "specdec"
            if node.level > 1 or not _allowed_module(absolute):
                bad(node, f"imports from `{module}`, which task code may not use")
            for alias in node.names:
                rule = _name_rule(alias.name, "name")
                if rule or alias.name == "*":
                    bad(node, rule or f"`from {module} import *` hides what is imported")
        elif isinstance(node, ast.Name):
            rule = _name_rule(node.id, "name")
            if rule:
                bad(node, rule)
            elif node.id in FORBIDDEN_CALLS:
                bad(node, f"`{node.id}` may not be used in task code")
        elif isinstance(node, ast.Attribute):
            rule = _name_rule(node.attr, "attribute")
            if rule:
                bad(node, rule)
            if isinstance(node.ctx, (ast.Store, ast.Del)) and _root_name(node) in aliases:
                bad(node, f"assigns to `{ast.unparse(node)}`: task code may not patch a library")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("getattr", "hasattr"):
                literal = len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                name = node.args[1].value if literal else None
                if not isinstance(name, str):
                    bad(node, f"`{node.func.id}` needs a literal attribute name in task code")
                else:
                    rule = _name_rule(name, "attribute")
                    if rule:
                        bad(node, rule)
    return sorted(set(found), key=lambda v: v.line)


def check_file(path: Path, shown: str | None = None) -> list[Violation]:
    """:func:`check_source` on a file; ``shown`` is the name reports use."""
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return [Violation(shown or str(path), 1, f"cannot be read as UTF-8 text: {err}")]
    return check_source(source, shown or str(path))


def check_package(folder: Path, modules: list[str]) -> dict[str, list[Violation]]:
    """Violations per task module (``"sampling"``) of the ``specdec/`` package in ``folder``.

    Only the named modules are read (the grader copies no other file); a missing module
    is not a violation (the stub stands in for it).
    """
    out = {}
    for name in modules:
        path = Path(folder) / f"{name}.py"
        if path.is_file():
            problems = check_file(path, f"specdec/{name}.py")
            if problems:
                out[name] = problems
    return out
