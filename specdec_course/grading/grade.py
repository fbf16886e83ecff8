"""``specdec grade SUBMISSION [--hidden] [--out DIR]``: score a student's checkout.

The grader never imports student code itself. Each chapter day runs in its own
pytest subprocess with ``$SPECDEC_IMPL_PATH`` pointing at the submission (see
``core/impl.py``), a per-test timeout (pytest-timeout) and a wall-clock cap for
the whole day, so an endless loop, ``sys.exit``, a segfault, an exception at
import time or a huge allocation costs that day's points and nothing else.
Tests are counted against the list collected on the stubs (always importable),
so a test that never reported (its run crashed or was killed) counts as an error.

Points come from ``rubric.toml`` next to this module: points per day, the
share earned by the hidden tests, partial credit by tests passed. The result is
written as ``grade.json`` and ``junit.xml`` and printed as a table; the exit
status is 0 whatever the grade (a grader is not a test), non-zero only when the
grader itself cannot work.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from specdec_course.core.blas import fast_blas_env
from specdec_course.core.cmdline import default_workers
from specdec_course.core.impl import ENV_VAR, PATH_VAR
from specdec_course.core.paths import HIDDEN_TESTS_DIR, REPO_ROOT, day_test_files
from specdec_course.core.tasks import CHAPTERS, Chapter

RUBRIC_PATH = Path(__file__).resolve().parent / "rubric.toml"


class GradeError(RuntimeError):
    """The grader cannot work (bad submission path, bad rubric, no tests)."""


@dataclass(frozen=True)
class DayRule:
    """One chapter day's line of the rubric."""

    points: float
    hidden_share: float
    test_timeout_s: float
    day_cap_s: float


def load_rubric(path: Path = RUBRIC_PATH) -> dict[str, DayRule]:
    """The rubric per chapter marker (``"w1d4"``), every registered day included.

    Raises:
        GradeError: for a rubric that is missing, not TOML, or has a bad value.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise GradeError(f"cannot read the rubric {path}: {err}") from err
    defaults = data.get("defaults", {})
    days = data.get("days", {})
    unknown = sorted(set(days) - {c.marker for c in CHAPTERS})
    if unknown:
        raise GradeError(f"rubric {path} names days that are not chapters: {unknown}")
    rules = {}
    for ch in CHAPTERS:
        merged = {**defaults, **days.get(ch.marker, {})}
        try:
            rule = DayRule(*(float(merged[k]) for k in DayRule.__dataclass_fields__))
        except (KeyError, TypeError, ValueError) as err:
            raise GradeError(f"rubric {path}: day {ch.marker} lacks a valid {err}") from err
        if rule.points < 0 or not 0 <= rule.hidden_share <= 1 or rule.test_timeout_s <= 0:
            raise GradeError(f"rubric {path}: day {ch.marker} has an out-of-range value {rule}")
        rules[ch.marker] = rule
    return rules


def submission_root(path: str | Path) -> Path:
    """The folder to put first on ``sys.path``: the one holding ``specdec/``.

    Accepts a student repository (``REPO/src/specdec``), a folder holding the
    package (``solutions/``) or the package itself (``.../specdec``).

    Raises:
        GradeError: when no ``specdec/__init__.py`` is found there.
    """
    path = Path(path).resolve()
    for root in (path / "src", path, path.parent):
        if (root / "specdec" / "__init__.py").is_file() and (
            root != path.parent or path.name == "specdec"
        ):
            return root
    raise GradeError(
        f"{path} holds no specdec package: give a student repository (with src/specdec), "
        "a folder holding specdec/, or the specdec/ folder itself"
    )


def day_files(ch: Chapter, hidden: bool) -> tuple[list[str], list[str]]:
    """(public, hidden) test files of one day, relative to the repository root."""
    public = [str(p.relative_to(REPO_ROOT)) for p in day_test_files(ch.marker)]
    secret = (
        [str(p.relative_to(REPO_ROOT)) for p in day_test_files(ch.marker, hidden=True)]
        if hidden
        else []
    )
    return public, secret


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in fast_blas_env(os.environ).items() if k not in (ENV_VAR, PATH_VAR)}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def collect_expected(files: list[str]) -> list[str]:
    """Node ids of ``files`` as collected on this repository's stubs.

    Raises:
        GradeError: if the stubs' collection fails (the course itself is broken).
    """
    if not files:
        return []
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "--impl",
        "src",
        *files,
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=_env({}), capture_output=True, text=True)
    ids = [line.strip() for line in proc.stdout.splitlines() if "::" in line]
    if proc.returncode != 0 or not ids:
        raise GradeError(f"collecting {files} on the stubs failed:\n{proc.stdout[-2000:]}")
    return ids


def run_day(
    files: list[str], root: Path, rule: DayRule, workdir: Path, marker: str
) -> tuple[list[dict], str]:
    """Run one day's tests on the submission; (records, note about the run)."""
    stream = workdir / f"{marker}.jsonl"
    stream.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-header",
        f"--timeout={rule.test_timeout_s:g}",
        "--specdec-stream",
        str(stream),
        *files,
    ]
    note = ""
    # A session of its own, so a cap kills every process the student code started.
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=_env({PATH_VAR: str(root)}),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=rule.day_cap_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        note = f"stopped at the day's cap of {rule.day_cap_s:g} s"
    if proc.returncode is not None and proc.returncode < 0 and not note:
        note = f"the test run died with signal {-proc.returncode}"
    records = (
        [json.loads(line) for line in stream.read_text().splitlines()] if stream.exists() else []
    )
    if not records and not note:
        tail = (out or "").strip().splitlines()[-3:]
        note = "no test ran: " + " / ".join(tail)[:300]
    return records, note


@dataclass
class DayGrade:
    """One chapter day's result in ``grade.json``."""

    day: str
    title: str
    points: float
    max_points: float
    passed: int = 0
    failed: int = 0
    errored: int = 0
    not_written: list[str] = field(default_factory=list)
    first_failure: str = ""
    note: str = ""
    tests: list[dict] = field(default_factory=list)


def grade_day(
    ch: Chapter, root: Path, rule: DayRule, expected: dict[str, list[str]], workdir: Path
) -> DayGrade:
    """Run and score one chapter day.

    Args:
        ch: the chapter.
        root: the folder holding the submission's ``specdec``.
        rule: the day's rubric line.
        expected: node ids per test file (collected on the stubs); hidden files
            are those under ``tests/hidden``.
        workdir: where the run's record stream goes.
    """
    files = list(expected)
    hidden = [f for f in files if f.startswith("tests/hidden/")]
    grade = DayGrade(ch.marker, ch.title, 0.0, rule.points)
    found, grade.note = run_day(files, root, rule, workdir, ch.marker)
    by_id = {r["nodeid"]: r for r in found}
    for part, share in (
        ([f for f in files if f not in hidden], 1.0 - rule.hidden_share if hidden else 1.0),
        (hidden, rule.hidden_share),
    ):
        ids = [n for f in part for n in expected[f]]
        if not ids:
            continue
        passed = sum(by_id.get(n, {}).get("outcome") == "passed" for n in ids)
        grade.points += rule.points * share * passed / len(ids)
        for nodeid in ids:
            rec = by_id.get(nodeid) or {
                "outcome": "error",
                "message": grade.note or "did not report",
            }
            grade.tests.append(
                {
                    "nodeid": nodeid,
                    "hidden": part is hidden,
                    **{k: rec.get(k) for k in ("outcome", "exception", "message", "unwritten")},
                }
            )
    grade.points = round(grade.points, 3)
    grade.passed = sum(t["outcome"] == "passed" for t in grade.tests)
    grade.errored = sum(t["outcome"] == "error" for t in grade.tests)
    grade.failed = len(grade.tests) - grade.passed - grade.errored
    grade.not_written = sorted({t["unwritten"] for t in grade.tests if t.get("unwritten")})
    bad = [t for t in grade.tests if t["outcome"] != "passed" and not t.get("unwritten")]
    if bad:
        first = bad[0]
        name = first["nodeid"].split("::", 1)[-1]
        grade.first_failure = f"{name}: {first['exception'] or ''} {first['message']}".strip()
    elif grade.not_written:
        grade.first_failure = "not written yet: " + ", ".join(grade.not_written)
    return grade


def write_junit(grades: list[DayGrade], path: Path) -> None:
    """One ``<testsuite>`` per day, one ``<testcase>`` per test (JUnit XML for CI / LMS)."""
    suites = ET.Element("testsuites", name="specdec grade")
    for g in grades:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=g.day,
            tests=str(len(g.tests)),
            failures=str(g.failed),
            errors=str(g.errored),
        )
        for t in g.tests:
            classname, _, name = t["nodeid"].rpartition("::")
            case = ET.SubElement(
                suite, "testcase", classname=classname.replace("/", "."), name=name
            )
            if t["outcome"] == "error":
                ET.SubElement(case, "error", message=t["message"] or "did not report")
            elif t["outcome"] != "passed":
                ET.SubElement(
                    case,
                    "failure",
                    message=t["message"] or t["exception"] or "failed",
                    type=t["exception"] or "",
                )
    ET.ElementTree(suites).write(path, encoding="unicode", xml_declaration=True)


def grade_submission(
    submission: str | Path,
    *,
    hidden: bool = False,
    out: str | Path = "grade-results",
    days: list[str] | None = None,
    rubric: Path = RUBRIC_PATH,
    jobs: int | None = None,
) -> dict:
    """Grade a submission; write ``grade.json`` and ``junit.xml`` to ``out``.

    Args:
        submission: a student repository, a folder holding ``specdec/``, or the package.
        hidden: run the hidden tests too (``tests/hidden``, instructor checkouts only).
        out: output folder (created).
        days: chapter markers to grade (default: every chapter with tests).
        rubric: the rubric file.
        jobs: days graded at once (default: one per CPU core, at most 4). Each day is its
            own pytest process with its own caps, so running several side by side changes
            no result, only the wall-clock time (measured for the reference with --hidden
            on 2 cores: 76 s one day at a time, 50 s two at a time).

    Returns:
        The ``grade.json`` content.

    Raises:
        GradeError: for a bad submission, rubric or day, or hidden tests that are missing.
    """
    root = submission_root(submission)
    rules = load_rubric(rubric)
    if hidden and not HIDDEN_TESTS_DIR.is_dir():
        raise GradeError(
            f"--hidden needs {HIDDEN_TESTS_DIR.relative_to(REPO_ROOT)} (an instructor checkout)"
        )
    chosen = [c for c in CHAPTERS if days is None or c.marker in days]
    if days and len(chosen) != len(set(days)):
        raise GradeError(f"unknown day(s) {sorted(set(days) - {c.marker for c in CHAPTERS})}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    files = {ch.marker: [f for part in day_files(ch, hidden) for f in part] for ch in chosen}
    ids = collect_expected([f for fs in files.values() for f in fs])
    jobs = jobs or default_workers()

    def one_day(ch: Chapter) -> DayGrade:
        expected = {f: [n for n in ids if n.startswith(f + "::")] for f in files[ch.marker]}
        return grade_day(ch, root, rules[ch.marker], expected, out)

    # Threads only wait on subprocesses; map keeps the course order of the days.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        grades = list(pool.map(one_day, [ch for ch in chosen if files[ch.marker]]))
    for stream in out.glob("w*d*.jsonl"):
        stream.unlink()
    result = {
        "submission": str(root),
        "hidden": hidden,
        "points": round(sum(g.points for g in grades), 3),
        "max_points": round(sum(g.max_points for g in grades), 3),
        "seconds": round(time.perf_counter() - start, 1),
        "days": [asdict(g) for g in grades],
    }
    (out / "grade.json").write_text(json.dumps(result, indent=1))
    write_junit(grades, out / "junit.xml")
    return result


def print_grade(console: Console, result: dict) -> None:
    """The grade as a table that fits 80 columns."""
    table = Table(
        title=f"grade: {result['points']:g} / {result['max_points']:g}"
        + (" (public + hidden)" if result["hidden"] else " (public tests)")
    )
    table.add_column("day", no_wrap=True)
    table.add_column("pts", justify="right", no_wrap=True)
    table.add_column("ok", justify="right", no_wrap=True)
    table.add_column("first problem", overflow="fold")
    for d in result["days"]:
        total = d["passed"] + d["failed"] + d["errored"]
        detail = d["first_failure"] + (f" [{d['note']}]" if d["note"] else "")
        table.add_row(
            d["day"], f"{d['points']:g}/{d['max_points']:g}", f"{d['passed']}/{total}", detail
        )
    console.print(table)
    console.print(
        f"[dim]pts = points / day's points, ok = tests passed; {result['seconds']} s[/dim]"
    )
