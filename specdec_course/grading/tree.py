"""The grading tree: what one day's test process can see of the course.

Each day of each submission runs in a fresh tree built from what a student handout holds,
plus that day's hidden tests, and nothing else: no reference, no rubric, no grader, no other
day's hidden tests, no git history. Only the submission's task modules are copied in, by
name (``specdec/sampling.py`` and its siblings, as the stubs name them); every other file of
the submission is ignored and listed in the report. A module that fails the static check
(``static_check.py``) is replaced by its stub, so the days that merely use it still run.
The tree is made read-only before the worker starts.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from specdec_course.core.impl import students_pyproject
from specdec_course.core.paths import REPO_ROOT, day_test_files

#: The course packages a test run needs (tests import ``specdec_course.testing`` and
#: ``.api``; the plugin needs ``.core``); the grader, rubric and authoring tools stay out.
COURSE_PARTS = ["__init__.py", "core", "api", "testing"]
#: From ``grading/``: the pytest plugin and the worker's own modules.
GRADING_PARTS = ["__init__.py", "pytest_plugin.py", "channel.py", "sandbox.py", "worker.py"]
STUB_DIR = REPO_ROOT / "src" / "specdec"


def task_modules() -> list[str]:
    """The task modules a submission may provide (``"sampling"``, ...), from the stubs."""
    return sorted(p.stem for p in STUB_DIR.glob("*.py") if p.stem != "__init__")


def submitted_files(package: Path) -> tuple[dict[str, Path], list[str]]:
    """(task module -> file) found in the submission's ``specdec/``, and what is ignored."""
    wanted = set(task_modules())
    found, ignored = {}, []
    for path in sorted(Path(package).rglob("*")):
        rel = path.relative_to(package)
        if path.is_dir() or "__pycache__" in rel.parts or rel == Path("__init__.py"):
            continue  # the package's __init__ is always the course's own
        if len(rel.parts) == 1 and path.suffix == ".py" and path.stem in wanted:
            if path.is_symlink():
                ignored.append(f"specdec/{rel} (a link, not a file)")
            else:
                found[path.stem] = path
        else:
            ignored.append(f"specdec/{rel}")
    return found, ignored


def _copy(src: Path, dest: Path, *, compiled: bool = False) -> None:
    # The course's own files keep their times and compiled caches (copy2; Python checks a
    # .pyc against its source's time and size): a worker may not write bytecode, and
    # compiling the course package and rewriting the tests' asserts again cost every day.
    ignore = None if compiled else shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    if src.is_dir():
        shutil.copytree(src, dest, ignore=ignore, symlinks=False)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest) if compiled else shutil.copyfile(src, dest)


def build_tree(dest: Path, marker: str, *, hidden: bool, modules: dict[str, Path | None]) -> Path:
    """Write one day's grading tree to ``dest`` (created) and make it read-only.

    Args:
        dest: a new folder.
        marker: the day (``"w1d4"``).
        hidden: include the day's hidden tests.
        modules: task module -> the submitted file to use, or ``None`` for the stub.

    Returns:
        ``dest``.
    """
    dest.mkdir(parents=True)
    course = REPO_ROOT / "specdec_course"
    for part in COURSE_PARTS:
        _copy(course / part, dest / "specdec_course" / part, compiled=True)
    for part in GRADING_PARTS:
        _copy(course / "grading" / part, dest / "specdec_course" / "grading" / part, compiled=True)
    # Compiled caches of exactly the files copied (the grader's own stay out).
    wanted = {Path(p).stem for p in [*GRADING_PARTS, "__init__.py"]}
    for cache in (course / "__pycache__", course / "grading" / "__pycache__"):
        for pyc in cache.glob("*.pyc") if cache.is_dir() else []:
            if pyc.name.split(".")[0] in wanted:
                _copy(
                    pyc,
                    dest / "specdec_course" / cache.relative_to(course) / pyc.name,
                    compiled=True,
                )
    tests = dest / "tests"
    tests.mkdir()
    for helper in sorted((REPO_ROOT / "tests").glob("*.py")):
        if not helper.name.startswith("test_"):
            _copy(helper, tests / helper.name, compiled=True)  # __init__, w1_helpers...
    for public in day_test_files(marker):
        _copy(public, tests / public.name, compiled=True)
    names = {p.stem for p in tests.glob("*.py")}
    for pyc in (REPO_ROOT / "tests" / "__pycache__").glob("*.pyc"):
        if pyc.name.split(".")[0] in names:
            _copy(pyc, tests / "__pycache__" / pyc.name, compiled=True)
    if hidden:
        (tests / "hidden").mkdir()
        _copy(REPO_ROOT / "tests" / "hidden" / "__init__.py", tests / "hidden" / "__init__.py")
        for secret in day_test_files(marker, hidden=True):
            _copy(secret, tests / "hidden" / secret.name)
    package = dest / "src" / "specdec"
    package.mkdir(parents=True)
    _copy(STUB_DIR / "__init__.py", package / "__init__.py")
    for name in task_modules():
        _copy(modules.get(name) or STUB_DIR / f"{name}.py", package / f"{name}.py")
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    (dest / "pyproject.toml").write_text(students_pyproject(pyproject))
    # The bundled models are public (every handout ships them): a link, not a 45 MB copy.
    os.symlink(REPO_ROOT / "models", dest / "models")
    make_read_only(dest)
    return dest


def make_read_only(root: Path) -> None:
    """Folders r-x, files r-- for everyone (the worker runs as another user where it can)."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        Path(folder).chmod(0o555)


def remove_tree(root: Path) -> None:
    """Delete a tree made read-only by :func:`make_read_only`."""
    if not root.exists():
        return
    for folder, _dirs, _files in os.walk(root):
        if not Path(folder).is_symlink():
            Path(folder).chmod(0o755)
    shutil.rmtree(root, ignore_errors=True)
