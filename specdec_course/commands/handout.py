"""``specdec handout DEST``: write a student repository, then prove it.

The handout holds the stubs, the public tests, the book, the bundled models and
the course machinery students run (``specdec test/demo/walkthrough/bench``).
It never holds the reference (``solutions/``), the hidden tests, the rubric,
the grader, the handout writer or the authoring tools, nor caches (``.pyc``,
bench results, a built book). It gets its own README (student path first), its
own CI workflow, and a git repository with one commit.

The proof runs the handout's own test command in DEST (every task test red with
the stub's NotImplementedError, every shipped tool test green) and a leak check:
no solution region's code (normalised AST) appears in any DEST ``.py`` file, no
path or text points at the reference, and no cache or compiled file ships.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from specdec_course.commands.leaks import CACHES, leak_problems
from specdec_course.core.impl import ENV_VAR, PATH_VAR, students_pyproject
from specdec_course.core.paths import REPO_ROOT, new_folder_problem

#: Copied as they are (files or whole folders, minus caches and DROP).
SHIP = [
    "src",
    "models",
    "book/book.toml",
    "book/src",
    "specdec_course",
    "pyproject.toml",
    "uv.lock",
    ".gitignore",
    "tests/__init__.py",
    "tests/w1_helpers.py",
]
#: Tool tests that need neither the reference nor the instructor tools.
TOOL_TESTS = [
    "test_baselines.py",
    "test_blas.py",
    "test_markers.py",
    "test_stats.py",
    "test_testmodels.py",
    "test_summary.py",
]
#: Instructor-only parts of the machinery, never shipped.
DROP = [
    "book/src/instructors.md",
    "specdec_course/authoring",
    "specdec_course/commands/handout.py",
    "specdec_course/commands/leaks.py",
    "specdec_course/commands/check.py",
    # The grader: everything of grading/ but the pytest plugin, `specdec test`'s runner and
    # the static check (students run it before submitting).
    *(
        f"specdec_course/grading/{name}"
        for name in (
            "grade.py",
            "rubric.py",
            "rubric.toml",
            "reference_times.json",
            "session.py",
            "tree.py",
            "procs.py",
            "report.py",
            "channel.py",
            "sandbox.py",
            "worker.py",
            "autograder.py",
        )
    ),
]
#: The ``--impl`` table in pyproject.toml; a handout names the students' folder only.
TEST_COMMAND = "uv run pytest"
#: How chapters ask for the reference implementation; removed from a handout's chapters.
REFERENCE_FLAG = " --impl solutions"

README = """\
# specdec: speculative decoding on MLX, from scratch

Your copy of the course. Read a chapter in `book/src/`, fill in the TODO stubs
in `src/specdec/`, run that chapter's tests, and watch your own code make real
models faster - losslessly.

## Start here

```sh
pip install uv && uv sync            # once: the environment (no internet needed later)
uv run specdec test --week 1 --day 1 # the first chapter's tests on your code
```

Every task starts as `raise NotImplementedError(...)` under a numbered TODO
plan; the summary table says which tasks pass, fail or are not written yet.

```sh
uv run specdec test --week 1 --day 4 -- -x    # extra pytest arguments after --
uv run specdec walkthrough                    # one speculative step of YOUR code
uv run specdec demo                           # your decoder on the bundled models
uv run specdec bench                          # measured vs predicted speedup
```

The whole suite (`{test_command}`) is red until every task is written; the
course tool's own tests (`tests/course`) are green from the start.
"""

CI = """\
name: tests
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: python -m pip install uv && uv sync --locked
      - run: uv run pytest tests/course
      - run: uv run pytest
"""


class HandoutError(RuntimeError):
    """The handout could not be written (e.g. DEST is not empty)."""


def _ignore(folder: str, names: list[str]) -> set[str]:
    rel = Path(folder).resolve().relative_to(REPO_ROOT)
    dropped = {n for n in names if str(rel / n) in DROP}
    return dropped | {n for n in names if n in CACHES or n.endswith((".pyc", ".pyo"))}


def write_tree(dest: Path) -> None:
    """Copy what a student gets into ``dest`` (which must not exist or be empty).

    Raises:
        HandoutError: for a ``dest`` inside this repository, a file, a folder that is not
            empty, or one that cannot be created.
    """
    dest = Path(dest).resolve()
    problem = new_folder_problem(dest)
    if problem:
        raise HandoutError(problem)
    for item in SHIP:
        src, out = REPO_ROOT / item, dest / item
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, out, ignore=_ignore)
        elif src.exists():
            shutil.copy2(src, out)
    # The public task tests and their helpers (tests/*.py; tests/hidden is a folder).
    (dest / "tests").mkdir(parents=True, exist_ok=True)
    for test in sorted((REPO_ROOT / "tests").glob("*.py")):
        shutil.copy2(test, dest / "tests" / test.name)
    (dest / "tests" / "course").mkdir(parents=True, exist_ok=True)
    for name in TOOL_TESTS:
        if (REPO_ROOT / "tests" / "course" / name).exists():
            shutil.copy2(REPO_ROOT / "tests" / "course" / name, dest / "tests" / "course" / name)
    pyproject = dest / "pyproject.toml"
    try:
        pyproject.write_text(students_pyproject(pyproject.read_text()))
    except ValueError as err:
        raise HandoutError(str(err)) from err
    summary = dest / "book" / "src" / "SUMMARY.md"
    if summary.exists():
        # The instructors' page does not ship: drop its part of the table of contents.
        text = summary.read_text()
        summary.write_text(text.split("\n# For instructors", 1)[0].rstrip("\n") + "\n")
    for chapter in sorted((dest / "book" / "src").glob("*.md")):
        text = chapter.read_text()
        if REFERENCE_FLAG in text:
            chapter.write_text(handout_chapter(text))
    _ship_runs(dest / "book" / "runs")
    (dest / "README.md").write_text(README.format(test_command=TEST_COMMAND))
    (dest / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (dest / ".github" / "workflows" / "tests.yml").write_text(CI)


def _command(line: str) -> str:
    # A code line's command without the reference flag, its comment and extra spaces.
    return " ".join(line.split("#", 1)[0].replace(REFERENCE_FLAG, "").split())


def handout_chapter(text: str) -> str:
    """A chapter as a handout shows it: every command runs the student's own code.

    Chapters show instructors' runs with ``--impl solutions``. In a code block, a command with
    the flag is dropped when the same block runs it without (``# the reference passes`` over
    ``# your code``); otherwise it loses the flag, and a comment naming the reference. Prose
    keeps its commands, without the flag.
    """
    lines, out, fence = text.split("\n"), [], None
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fence = None if fence is not None else i
        if REFERENCE_FLAG not in line:
            out.append(line)
            continue
        if fence is None:
            out.append(line.replace(REFERENCE_FLAG, ""))
            continue
        end = next((j for j in range(i, len(lines)) if lines[j].lstrip().startswith("```")), i)
        block = [ln for ln in lines[fence + 1 : end] if REFERENCE_FLAG not in ln]
        if _command(line) in {_command(ln) for ln in block}:
            continue
        code, _, comment = line.replace(REFERENCE_FLAG, "").partition("#")
        out.append(code.rstrip() if "reference" in comment else line.replace(REFERENCE_FLAG, ""))
    return "\n".join(out)


def _ship_runs(dest: Path) -> None:
    """The recorded runs the chapters cite, as a student may read them.

    The command loses the reference's ``--impl`` flag (the same command runs the student's
    code in a handout), ``impl`` says "reference", and the list of the instructor's
    uncommitted files is dropped.
    """
    runs = REPO_ROOT / "book" / "runs"
    if not runs.is_dir():
        return
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(runs.glob("*.json")):
        record = json.loads(path.read_text())
        record.pop("dirty_files", None)
        if isinstance(record.get("command"), str):
            record["command"] = record["command"].replace(REFERENCE_FLAG, "")
        (dest / path.name).write_text(json.dumps(_renamed(record), indent=1) + "\n")


def _renamed(value: object) -> object:
    # A run's `impl` field names the reference's folder, which no shipped file may name.
    if isinstance(value, dict):
        return {k: _renamed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v) for v in value]
    return "reference" if value == REFERENCE_FLAG.split()[-1] else value


def git_commit(dest: Path) -> None:
    """``git init`` and one commit of everything."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=dest, check=True, capture_output=True, text=True)

    git("init", "-q")
    git("add", "-A")
    git(
        "-c",
        "user.name=specdec",
        "-c",
        "user.email=specdec@localhost",
        "commit",
        "-q",
        "-m",
        "specdec course: student handout",
    )


def _uv_env(venv: Path) -> dict[str, str]:
    # uv's environment for the proof: the handout's own project, its .venv outside DEST (a
    # student's handout folder must not ship the proof's 700 MB environment).
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    return env


def _sync(dest: Path, venv: Path) -> list[str]:
    # The handout's own environment from its uv.lock, offline (the uv cache serves it), in
    # ``venv``; compiled once here, as `uv run` never recompiles it (see pyproject.toml).
    cmd = ["uv", "sync", "--offline", "--locked", "--quiet", "--compile-bytecode"]
    proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, env=_uv_env(venv))
    if proc.returncode != 0:
        return [f"`{' '.join(cmd)}` failed in {dest}:\n{(proc.stdout + proc.stderr)[-1500:]}"]
    return []


def test_problems(
    dest: Path, *, sync: bool, only: list[str] | None = None, venv: Path | None = None
) -> list[str]:
    """Run the handout's test command in ``dest``; tasks must be red, tool tests green.

    ``only`` limits the run to some test paths (``specdec check`` keeps its budget); with
    ``sync``, ``uv run`` uses the environment in ``venv`` (made by :func:`_sync`).
    """
    report = Path(tempfile.mkdtemp()) / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, PATH_VAR)}
    if sync and venv is not None:
        env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    args = [
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--specdec-report",
        str(report),
        *(only or []),
    ]
    if sync:
        env.pop("VIRTUAL_ENV", None)
        cmd = ["uv", "run", "--offline", "--locked", *args]
    else:
        # This environment, with DEST's own course package first on the path.
        env["PYTHONPATH"] = str(dest)
        cmd = [sys.executable, "-m", *args]
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, env=env)
    records = json.loads(report.read_text()) if report.exists() else []
    shutil.rmtree(report.parent, ignore_errors=True)
    if not records:
        return [f"the handout's tests did not run:\n{proc.stdout[-2000:]}{proc.stderr[-1000:]}"]
    problems = []
    for r in records:
        tool = r["nodeid"].startswith("tests/course/")
        if tool and r["outcome"] != "passed":
            problems.append(
                f"{r['nodeid']}: tool test {r['outcome']} ({r['exception']}: {r['message']})"
            )
        elif not tool and not r.get("unwritten"):
            problems.append(
                f"{r['nodeid']}: expected the stub's NotImplementedError, got "
                f"{r['outcome']} ({r['exception']}: {r['message']})"
            )
    if not any(r["nodeid"].startswith("tests/course/") for r in records):
        problems.append("no tool test ran in the handout")
    return problems


def prove_handout(dest: Path, *, sync: bool = True, only: list[str] | None = None) -> list[str]:
    """The leak check and the handout's own tests; every problem found.

    With ``sync`` the handout's environment is built from its lock file in a temporary folder
    and removed afterwards: ``dest`` is left as written (no ``.venv``).
    """
    problems = leak_problems(dest)
    with tempfile.TemporaryDirectory(prefix="specdec-handout-venv-") as tmp:
        venv = Path(tmp) / ".venv"
        if sync:
            problems += _sync(dest, venv)
        return problems or test_problems(dest, sync=sync, only=only, venv=venv)


def write_handout(
    console: Console, dest: str | Path, *, prove: bool = True, sync: bool = True
) -> int:
    """Write the handout to ``dest``, commit it, and (by default) prove it.

    Returns:
        0 when the handout was written (and proved), 1 when the proof failed.
    """
    dest = Path(dest).resolve()
    start = time.perf_counter()
    write_tree(dest)
    git_commit(dest)
    console.print(f"wrote the handout to {dest} (one commit)")
    if not prove:
        return 0
    problems = prove_handout(dest, sync=sync)
    took = time.perf_counter() - start
    if problems:
        console.print(f"[red]the handout is not safe to ship[/red] ({took:.0f} s):")
        for p in problems[:30]:
            console.print(f"  - {p}", markup=False, soft_wrap=True)
        return 1
    console.print(
        f"[green]proved[/green]: tasks red, tool tests green, nothing leaks ({took:.0f} s)"
    )
    return 0
