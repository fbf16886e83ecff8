"""The one switch that decides which ``specdec`` package is imported.

Students' code lives in ``src/specdec``; the instructors' repository also holds
the reference. The folders are named in ``[tool.specdec] implementations`` of
``pyproject.toml`` (a student handout names only ``src``). Every folder holds a
package imported as ``specdec``, so the tests never change between them; this module puts the chosen directory first on
``sys.path`` and then proves that the imported package really came from there
(a stray editable install or an earlier import must never win silently).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType

from specdec_course.core.paths import REPO_ROOT

ENV_VAR = "SPECDEC_IMPL"
DEFAULT_IMPL = "src"


def _implementations() -> dict[str, Path]:
    """``--impl`` name -> folder, from ``[tool.specdec] implementations`` in pyproject.toml.

    ``src`` is always there; another entry counts only when its folder exists, so a copy
    of the repository without the reference offers ``--impl src`` alone.
    """
    try:
        with open(REPO_ROOT / "pyproject.toml", "rb") as f:
            table = tomllib.load(f)["tool"]["specdec"]["implementations"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        table = {}
    found = {DEFAULT_IMPL: REPO_ROOT / table.get(DEFAULT_IMPL, DEFAULT_IMPL)}
    for name, folder in table.items():
        if name != DEFAULT_IMPL and (REPO_ROOT / folder).is_dir():
            found[name] = REPO_ROOT / folder
    return found


def students_pyproject(text: str) -> str:
    """``pyproject.toml`` as a student repository has it: the ``--impl`` table names ``src``
    alone (the handout and the grader's trees ship no reference).

    Raises:
        ValueError: when the text has no ``implementations = {...}`` line.
    """
    out, found = IMPL_TABLE.subn(f'implementations = {{ {DEFAULT_IMPL} = "{DEFAULT_IMPL}" }}', text)
    if found != 1:
        raise ValueError("pyproject.toml has no `implementations = {...}` line in [tool.specdec]")
    return out


#: The ``--impl`` table's line in pyproject.toml.
IMPL_TABLE = re.compile(r"^implementations = \{.*\}$", re.M)
IMPLEMENTATIONS = _implementations()
#: The name of the reference implementation (the one that is not the students' code), or
#: ``None`` where there is none (a student handout).
REFERENCE_IMPL: str | None = next((n for n in IMPLEMENTATIONS if n != DEFAULT_IMPL), None)
#: A folder holding some other ``specdec/`` package (a submission being graded);
#: used when no ``--impl`` is given. ``specdec grade`` sets it for its pytest runs.
PATH_VAR = "SPECDEC_IMPL_PATH"


class ImplementationError(RuntimeError):
    """The requested implementation could not be loaded from its directory."""


def requested_impl(explicit: str | None = None) -> str:
    """Return the implementation name to use.

    Args:
        explicit: a name given on a command line; wins over the environment.

    Returns:
        A key of :data:`IMPLEMENTATIONS`: ``explicit``, else ``$SPECDEC_IMPL``,
        else ``"src"``.
    """
    name = explicit or os.environ.get(ENV_VAR) or DEFAULT_IMPL
    if name not in IMPLEMENTATIONS:
        raise ImplementationError(
            f"unknown implementation {name!r}: choose one of {sorted(IMPLEMENTATIONS)} "
            f"(--impl NAME or {ENV_VAR}=NAME)"
        )
    return name


def activate(name: str | None = None) -> ModuleType:
    """Import ``specdec`` from the chosen implementation directory.

    Any ``specdec`` modules imported earlier are dropped first, so switching
    inside one process is safe. The environment variable is set as well, so
    subprocesses (e.g. pytest started by the CLI) load the same one.

    Args:
        name: a key of :data:`IMPLEMENTATIONS`; ``None`` means ``$SPECDEC_IMPL_PATH``
            when set (a folder holding a ``specdec`` package), else
            :func:`requested_impl`.

    Returns:
        The imported ``specdec`` package.

    Raises:
        ImplementationError: if the package imported is not the one asked for.
    """
    path = os.environ.get(PATH_VAR) if name is None else None
    if path:
        root = Path(path).resolve()
        if not (root / "specdec" / "__init__.py").is_file():
            raise ImplementationError(
                f"${PATH_VAR}={path} holds no specdec/__init__.py: point it at the folder "
                f"that contains the specdec package"
            )
        name = "path"
    else:
        name = requested_impl(name)
        root = IMPLEMENTATIONS[name]
    for other in [*IMPLEMENTATIONS.values(), root]:
        while str(other) in sys.path:
            sys.path.remove(str(other))
    sys.path.insert(0, str(root))
    for mod in [m for m in sys.modules if m == "specdec" or m.startswith("specdec.")]:
        del sys.modules[mod]
    importlib.invalidate_caches()
    if name != "path":
        os.environ[ENV_VAR] = name
    package = importlib.import_module("specdec")
    loaded = Path(package.__file__).resolve().parent
    if loaded != (root / "specdec").resolve():
        raise ImplementationError(
            f"asked for the {name!r} implementation at {root / 'specdec'}, but Python "
            f"imported specdec from {loaded}. Uninstall the stray copy "
            f"(`uv pip uninstall specdec`) so the switch can work."
        )
    return package


def describe() -> str:
    """One line naming the loaded implementation and its path (for headers)."""
    package = sys.modules.get("specdec")
    if package is None:
        return "specdec: not loaded"
    name = os.environ.get(ENV_VAR, DEFAULT_IMPL)
    loaded = Path(package.__file__).resolve().parent
    if os.environ.get(PATH_VAR) and loaded == (Path(os.environ[PATH_VAR]) / "specdec").resolve():
        name = f"${PATH_VAR}"
    return f"specdec implementation: {name} ({loaded})"
