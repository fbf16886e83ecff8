"""The import graph of ``specdec_course``: one-way layers and no cycles.

Every ``import`` of ours is read with :mod:`ast` (imports inside functions
too: a lazy import is still a dependency), then two rules are checked:

* **layers** - a package may import only the packages :data:`ALLOWED` lists
  for it, so imports flow one way: ``commands`` -> ``bench`` / ``grading`` /
  ``authoring`` / ``training`` -> ``api`` / ``testing`` -> ``core``;
* **no cycles** - no chain of modules imports back to where it started.

``python -m specdec_course.authoring.importgraph`` prints the package graph.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT_PACKAGE = "specdec_course"
PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: package -> the packages of ours it may import (itself always allowed).
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "api": frozenset({"core"}),
    "testing": frozenset({"core", "api"}),
    "grading": frozenset({"core", "api", "testing"}),
    "authoring": frozenset({"core", "api", "testing"}),
    "bench": frozenset({"core", "api", "testing"}),
    "training": frozenset({"core", "api"}),
    "commands": frozenset({"core", "api", "testing", "grading", "authoring", "bench", "training"}),
}


def module_name(path: Path, root: Path) -> str:
    """``specdec_course/bench/run.py`` -> ``specdec_course.bench.run`` (packages end at ``__init__``)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.add(target)
            # `from pkg import mod` imports the module pkg.mod when there is one.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def module_graph(root: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (only names that are real modules)."""
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        wanted = _imports(tree, name, path.name == "__init__.py")
        graph[name] = {w for w in wanted if w in paths and w != name}
    return graph


def package_of(module: str) -> str | None:
    """The layer package of a module (``specdec_course.bench.run`` -> ``bench``), or None at the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layer_problems(graph: dict[str, set[str]]) -> list[str]:
    """Imports that break the one-way layer rule, or modules outside any known package."""
    problems = []
    for module, targets in sorted(graph.items()):
        src = package_of(module)
        if src is None:
            continue  # the root __init__ holds only the version
        if src not in ALLOWED:
            problems.append(f"{module}: package {src!r} is not in the layer table (importgraph.ALLOWED)")
            continue
        for target in sorted(targets):
            dst = package_of(target)
            if dst is not None and dst != src and dst not in ALLOWED[src]:
                problems.append(f"{module} imports {target}: {src} may import only "
                                f"{', '.join(sorted(ALLOWED[src])) or 'nothing of ours'}")
    return problems


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def import_problems(root: Path = PACKAGE_DIR) -> list[str]:
    """Everything wrong with the import graph under ``root`` (empty when it is clean)."""
    graph = module_graph(root)
    problems = layer_problems(graph)
    # A package's __init__ importing its own modules (re-exports) is not a cycle of
    # dependencies; drop those edges before looking for cycles.
    acyclic_view = {m: {t for t in ts if not (graph.get(t) is not None and t.startswith(m + "."))}
                    for m, ts in graph.items()}
    if cycle := find_cycle(acyclic_view):
        problems.append("import cycle: " + " -> ".join(cycle))
    return problems


def package_edges(root: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """Package -> packages it imports (the diagram in ARCHITECTURE.md)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in module_graph(root).items():
        src = package_of(module)
        for target in targets:
            dst = package_of(target)
            if src and dst and dst != src:
                edges[src].add(dst)
    return edges


if __name__ == "__main__":
    for pkg in ALLOWED:
        print(f"{pkg:>10} -> {', '.join(sorted(package_edges().get(pkg, ()))) or '-'}")
    issues = import_problems()
    print("\n".join(issues) if issues else "import graph: one-way, acyclic")
    sys.exit(1 if issues else 0)
