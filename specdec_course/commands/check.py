"""``specdec check``: the instructor's proof that the course is consistent.

1. every task test passes on the reference (``--impl solutions``);
2. every task test fails on the stubs, each with the stub's NotImplementedError;
3. the hidden tests (tests/hidden) pass on the reference and fail on the stubs;
4. API parity between solutions/ and src/ (by AST), src/ never imports solutions;
5. the book builds and chapters only name commands, files and functions that exist;
6. the course machinery's imports flow one way and have no cycles;
7. the stubs are exactly the generator's output; src/ and solutions/ are ruff clean;
8. the course tool's own unit tests pass;
9. a student handout leaks no solution, its tasks are red and its tool tests green.

Steps 1-3, 8 and 9 share three subprocesses started together (see ``_start_slow_parts``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from specdec_course.authoring.bookcheck import build_book, reference_problems
from specdec_course.authoring.importgraph import import_problems
from specdec_course.authoring.parity import parity_problems
from specdec_course.authoring.runs import run_problems
from specdec_course.authoring.stubs import stub_problems
from specdec_course.core.cmdline import default_workers
from specdec_course.core.paths import HIDDEN_TESTS_DIR, REPO_ROOT
from specdec_course.core.tasks import CHAPTERS
from specdec_course.grading.rubric import record_timings
from specdec_course.grading.runner import TestRun, run_pytest


def _parallel() -> list[str]:
    """pytest-xdist arguments: one worker per core (at most 4) when the plugin is installed.

    The check runs about a thousand tests; on the 2-core reference machine two workers halve
    its wall-clock time. Records still reach the runner (the plugin collects them from xdist's
    reports), and a machine without pytest-xdist simply runs them one after another.
    """
    if importlib.util.find_spec("xdist") is None:
        return []
    return ["-n", str(default_workers()), "--dist", "worksteal"]


# The three slow parts (every test on the reference, every task and hidden test on the
# stubs, the handout proof) start together in background threads: each is a subprocess,
# and running them side by side fills the cores that one pytest run leaves idle at its tail.
_pending: dict[str, Future] = {}


def _start_slow_parts() -> None:
    pool = ThreadPoolExecutor(max_workers=3)
    markers = " or ".join(c.marker for c in CHAPTERS)
    # Files, not the folder `tests`: pytest drops an argument inside another argument's
    # folder, so `tests tests/hidden` would never collect the hidden tests.
    day_files = sorted(
        str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "tests").glob("test_*.py")
    )
    tasks = [*day_files, "tests/hidden", "-p", "no:cacheprovider"]
    everything = [*tasks, "tests/course", *_parallel()]
    _pending["reference"] = pool.submit(run_pytest, everything, "solutions", capture=True)
    _pending["stubs"] = pool.submit(
        # One process: stub tests fail at once, so a second worker would only repeat the
        # collection (measured: 29 s with two workers, 16 s with one).
        run_pytest,
        [*tasks, "-m", markers],
        "src",
        capture=True,
    )
    _pending["handout"] = pool.submit(_prove_handout)
    pool.shutdown(wait=False)


def _result(name: str) -> Any:
    if name not in _pending:  # a step called on its own (tests, REPL)
        _start_slow_parts()
    return _pending[name].result()


def _part(run: TestRun, part: str) -> list[dict]:
    """Records of one part of a run: ``task``, ``hidden`` or ``tool`` tests."""

    def kind(nodeid: str) -> str:
        if nodeid.startswith("tests/course/"):
            return "tool"
        return "hidden" if nodeid.startswith("tests/hidden/") else "task"

    return [r for r in run.records if kind(r["nodeid"]) == part]


_reference_ids: set[str] = set()
# Test counts for the closing line: every test the check ran, as passed or failed
# (a stub test counts as passed when it fails with the stub's NotImplementedError).
_counts = {"passed": 0, "failed": 0}


def _count(passed: int, failed: int) -> None:
    _counts["passed"] += passed
    _counts["failed"] += failed


def check_reference() -> list[str]:
    """Problems with the task tests on the reference solution."""
    run = _result("reference")
    records = _part(run, "task")
    _reference_ids.update(r["nodeid"] for r in records)
    if not records:
        return ["no task tests ran on the reference:\n" + run.output[-3000:]]
    # The grader's per-test timeouts and day budgets scale with the reference's own time.
    record_timings(records + _part(run, "hidden"))
    bad = [
        f"{r['nodeid']}: {r['outcome']} ({r['exception']}: {r['message']})"
        for r in records
        if r["outcome"] != "passed"
    ]
    _count(len(records) - len(bad), len(bad))
    if run.returncode != 0 and not bad:
        bad.append("pytest failed on the reference:\n" + run.output[-3000:])
    return bad


def check_stubs() -> list[str]:
    """Problems with the task tests on the student stubs (each must fail on a stub)."""
    run = _result("stubs")
    records = _part(run, "task")
    if not records:
        return ["no task tests ran on the stubs:\n" + run.output[-3000:]]
    missing = sorted(_reference_ids - {r["nodeid"] for r in records})
    wrong = [
        f"{r['nodeid']}: expected the stub's NotImplementedError, got "
        + (
            "a pass (this test cannot fail on an unwritten task)"
            if r["outcome"] == "passed"
            else f"{r['outcome']} with {r['exception']}: {r['message']}"
        )
        for r in records
        if not (r["outcome"] == "failed" and r["exception"] == "NotImplementedError")
    ]
    _count(len(records) - len(wrong), len(wrong) + len(missing))
    return [
        f"{n}: ran on the reference but not on the stubs (import or collection error?)"
        for n in missing
    ] + wrong


def check_book() -> list[str]:
    """Problems building the book or in what its chapters reference."""
    ok, output = build_book()
    problems = [] if ok else ["mdbook build failed:\n" + output[-2000:]]
    return problems + reference_problems()


def check_stubs_and_style() -> list[str]:
    """Stubs equal the generator's output; ``ruff check`` and ``ruff format --check`` pass."""
    problems = stub_problems()
    for command in (["check"], ["format", "--check"]):
        cmd = [sys.executable, "-m", "ruff", *command, "src", "solutions"]
        run = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
        if run.returncode != 0:
            output = (run.stdout + run.stderr).strip()
            problems.append(f"`ruff {' '.join(command)} src solutions` failed:\n{output[-2000:]}")
    return problems


def check_tool_tests() -> list[str]:
    """Problems in the course machinery's own unit tests."""
    run = _result("reference")
    records = _part(run, "tool")
    failed = [r for r in records if r["outcome"] not in ("passed", "skipped")]
    _count(len(records) - len(failed), len(failed))
    if not records:
        return ["no tool tests ran:\n" + run.output[-3000:]]
    if run.returncode == 0:
        return []
    return [f"{r['nodeid']}: {r['exception']}: {r['message']}" for r in failed] or [
        "pytest failed on the reference:\n" + run.output[-3000:]
    ]


def check_hidden() -> list[str]:
    """Hidden tests: all pass on the reference, all fail on the stubs with NotImplementedError."""
    if not HIDDEN_TESTS_DIR.is_dir():
        return ["tests/hidden is missing"]
    problems = []
    ref, stub = _result("reference"), _result("stubs")
    ref_records, stub_records = _part(ref, "hidden"), _part(stub, "hidden")
    if not ref_records or not stub_records:
        return ["the hidden tests did not run:\n" + (ref.output + stub.output)[-3000:]]
    problems += [
        f"{r['nodeid']}: {r['outcome']} on the reference ({r['exception']}: {r['message']})"
        for r in ref_records
        if r["outcome"] != "passed"
    ]
    problems += [
        f"{r['nodeid']}: expected the stub's NotImplementedError, got {r['outcome']} "
        f"({r['exception']}: {r['message']})"
        for r in stub_records
        if not r.get("unwritten")
    ]
    _count(len(ref_records) + len(stub_records) - len(problems), len(problems))
    return problems


def check_handout() -> list[str]:
    """A handout written to a temp dir leaks nothing; its W1D1 tests are red, tool tests green."""
    return _result("handout")


def _prove_handout() -> list[str]:
    import tempfile

    from specdec_course.commands.handout import prove_handout, write_tree

    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "handout"
        write_tree(dest)
        only = ["tests/test_w1d1_sampling.py", "tests/course/test_stats.py"]
        return prove_handout(dest, sync=False, only=only)


STEPS: list[tuple[str, Callable[[], list[str]]]] = [
    ("task tests pass on the reference (--impl solutions)", check_reference),
    ("task tests fail on the stubs with NotImplementedError (--impl src)", check_stubs),
    ("hidden tests pass on the reference, fail on the stubs", check_hidden),
    ("API parity src/ <-> solutions/ (AST)", parity_problems),
    ("book builds and names only things that exist", check_book),
    ("book figures match their recorded runs (book/runs)", run_problems),
    ("course packages import one way, no cycles", import_problems),
    ("stubs are the generator's output; ruff clean (src/, solutions/)", check_stubs_and_style),
    ("course tool unit tests", check_tool_tests),
    ("student handout: nothing leaks, tasks red, tool tests green", check_handout),
]


SHARED_STEPS = {check_reference, check_stubs, check_hidden, check_tool_tests, check_handout}


def run_check(console: Console) -> int:
    """Run every step, print a report, return 0 only if all passed."""
    failures = 0
    start = time.perf_counter()
    _start_slow_parts()
    for title, step in STEPS:
        t0 = time.perf_counter()
        with console.status(title):
            problems = step()
        took = time.perf_counter() - t0
        # Steps reading the shared runs show when their results were ready, from the start.
        shown = (
            f"ready at {time.perf_counter() - start:.1f} s"
            if step in SHARED_STEPS
            else f"{took:.1f} s"
        )
        if problems:
            failures += 1
            console.print(f"[red]✗[/red] {title} [dim]({shown})[/dim]")
            for p in problems[:40]:
                console.print(Text("    - ", style="red") + Text(p))
            if len(problems) > 40:
                console.print(f"    ... and {len(problems) - 40} more")
        else:
            console.print(f"[green]✓[/green] {title} [dim]({shown})[/dim]")
    total = time.perf_counter() - start
    verdict = (
        "[green]all checks passed[/green]"
        if not failures
        else f"[red]{failures} check(s) failed[/red]"
    )
    console.print(f"{verdict} in {total:.1f} s")
    # A plain closing line that CI systems read as a test count.
    print(f"{_counts['passed']} passed, {_counts['failed']} failed", flush=True)
    return 1 if failures else 0
