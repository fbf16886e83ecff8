"""``specdec grade SUBMISSION [--hidden] [--out DIR]``: score an untrusted submission.

The submission is hostile code that wants points, the hidden tests or the reference, or
wants to harm later grades (the threat model is in ``book/src/instructors.md``). The grader
never imports it. Per day, in this order:

1. the rubric is read and hashed, the reference's timings read (before any student code);
2. the submission's task modules (by name) pass the static check (``static_check.py``) or
   are replaced by their stubs, and their days score 0 with the rule they broke;
3. a fresh read-only grading tree is built (``tree.py``): handout files, that day's hidden
   tests, the submission's modules; no reference, rubric or grader;
4. the worker runs there, contained (``procs.py``) and walled (``sandbox.py``), and sends
   signed verdicts for the expected ids in order (``session.py``, ``channel.py``);
5. every process of the day is killed, the tree removed, the day scored.

Points: each day is worth its rubric points; with ``--hidden`` a share of them comes from
the hidden tests. Within a part, the points are split between the **tasks** (a test class is
one task's tests; a test outside a class stands alone), and a task earns its share only when
all its tests pass: a sampler that fails one statistical law has not written the sampler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from specdec_course.core.blas import fast_blas_env
from specdec_course.core.cmdline import default_workers
from specdec_course.core.impl import ENV_VAR, PATH_VAR
from specdec_course.core.paths import HIDDEN_TESTS_DIR, REPO_ROOT, day_test_files
from specdec_course.core.tasks import CHAPTERS, Chapter
from specdec_course.grading.procs import chown_scratch, contain
from specdec_course.grading.report import cap, print_grade, write_reports
from specdec_course.grading.rubric import (
    RUBRIC_PATH,
    GradeError,
    Rubric,
    day_times,
    load_rubric,
    load_timings,
)
from specdec_course.grading.session import DayRun, DaySetup, run_day
from specdec_course.grading.static_check import check_package
from specdec_course.grading.tree import build_tree, remove_tree, submitted_files

__all__ = ["GradeError", "RUBRIC_PATH", "grade_submission", "load_rubric", "print_grade"]
GRADER_VERSION = "2"
#: The whole submission's wall-clock cap (every day together), in seconds.
SUBMISSION_CAP_S = 900.0


def submission_root(path: str | Path) -> Path:
    """The folder holding the submission's ``specdec/`` package.

    Accepts a student repository (``REPO/src/specdec``), a folder holding the
    package (``solutions/``) or the package itself (``.../specdec``).

    Raises:
        GradeError: when no ``specdec/`` package is found there.
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


def _env() -> dict[str, str]:
    env = {k: v for k, v in fast_blas_env(os.environ).items() if k not in (ENV_VAR, PATH_VAR)}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1"}


def collect_expected(files: list[str]) -> list[str]:
    """Node ids of ``files`` as collected on this repository's stubs (never student code).

    Raises:
        GradeError: if the stubs' collection fails (the course itself is broken).
    """
    if not files:
        return []
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    cmd += ["--impl", "src", *files]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True)
    ids = [line.strip() for line in proc.stdout.splitlines() if "::" in line]
    if proc.returncode != 0 or not ids:
        raise GradeError(f"collecting {files} on the stubs failed:\n{proc.stdout[-2000:]}")
    return ids


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
    first_failure_hidden: bool = False
    note: str = ""
    seconds: float = 0.0
    tasks: list[dict] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)


def _modules_of(ch: Chapter) -> set[str]:
    return {task.split(".")[0] for task in ch.tasks}


def _task_of(nodeid: str) -> str:
    parts = nodeid.split("::")
    return "::".join(parts[:2]) if len(parts) > 2 else nodeid


def score_day(
    ch: Chapter,
    rule,
    ids: dict[str, list[str]],
    run: DayRun,
    note: str,
    *,
    refused: bool = False,
) -> DayGrade:
    """Points and per-test records of one day from its run (see the module docstring).

    ``refused``: the static check refused one of the day's own modules (``note`` says which):
    every test of the day is an error.
    """
    grade = DayGrade(ch.marker, ch.title, 0.0, rule.points, note=note)
    hidden = {f for f in ids if f.startswith("tests/hidden/")}
    public_share = 1.0 - rule.hidden_share if hidden else 1.0
    missing = "; ".join(run.collect_errors) or "; ".join(run.notes) or "did not report"
    for files, share, is_hidden in (
        ([f for f in ids if f not in hidden], public_share, False),
        (sorted(hidden), rule.hidden_share, True),
    ):
        part = [n for f in files for n in ids[f]]
        if not part:
            continue
        tasks: dict[str, list[bool]] = defaultdict(list)
        for nodeid in part:
            rec = run.results.get(nodeid) or {"outcome": "error", "message": missing}
            if run.anomaly:
                rec = {"outcome": "error", "exception": "Anomaly", "message": run.anomaly}
            if refused:
                rec = {"outcome": "error", "exception": "StaticCheck", "message": note}
            outcome = (
                rec.get("outcome")
                if rec.get("outcome") in ("passed", "failed", "skipped")
                else "error"
            )
            tasks[_task_of(nodeid)].append(outcome == "passed")
            grade.tests.append(
                {
                    "nodeid": nodeid,
                    "hidden": is_hidden,
                    "outcome": outcome,
                    "exception": cap(rec.get("exception"), 60) or None,
                    "message": cap(rec.get("message")),
                    "unwritten": cap(rec.get("unwritten"), 80) or None,
                    "duration": rec.get("duration"),
                }
            )
        worth = rule.points * share / len(tasks)
        for task, results in tasks.items():
            grade.tasks.append(
                {
                    "task": task,
                    "hidden": is_hidden,
                    "points": round(worth, 3) if all(results) else 0.0,
                    "max_points": round(worth, 3),
                    "passed": sum(results),
                    "total": len(results),
                }
            )
        earned = sum(all(results) for results in tasks.values())
        grade.points += worth * earned
    grade.points = round(grade.points, 3)
    grade.passed = sum(t["outcome"] == "passed" for t in grade.tests)
    grade.errored = sum(t["outcome"] == "error" for t in grade.tests)
    grade.failed = len(grade.tests) - grade.passed - grade.errored
    grade.not_written = sorted({t["unwritten"] for t in grade.tests if t.get("unwritten")})
    bad = [t for t in grade.tests if t["outcome"] != "passed" and not t.get("unwritten")]
    if bad:
        first = bad[0]
        name = first["nodeid"].split("::", 1)[-1]
        grade.first_failure = cap(f"{name}: {first['exception'] or ''} {first['message']}".strip())
        grade.first_failure_hidden = first["hidden"]
    elif grade.not_written:
        grade.first_failure = cap("not written yet: " + ", ".join(grade.not_written))
    if run.anomaly:
        grade.note = cap(f"anomaly on the verdict channel, the day earns nothing: {run.anomaly}")
    elif run.notes and not grade.note:
        grade.note = cap("; ".join(dict.fromkeys(run.notes)))
    if run.leftovers:
        grade.note = cap(f"{grade.note}; killed {run.leftovers} leftover process(es)".strip("; "))
    return grade


def _lost_to(ch: Chapter, run: DayRun) -> str:
    """A note when the day's tests could not even be imported because of another module."""
    own = _modules_of(ch)
    for error in run.collect_errors:
        for ch2 in CHAPTERS:
            for module in _modules_of(ch2) - own:
                if f"specdec/{module}.py" in error or f"specdec.{module}" in error:
                    return cap(f"lost to specdec/{module}.py ({ch2.label}'s module): {error}")
    return cap(f"could not import the tests: {run.collect_errors[0]}") if run.collect_errors else ""


def _hide_list(submission: Path, out: Path) -> list[Path]:
    # Everything of the instructor's checkout but the environment and the public models,
    # the grader's output, and the folder the submissions sit in.
    keep = {".venv", "models"}
    hide = [p for p in REPO_ROOT.iterdir() if p.name not in keep]
    for extra in (out.resolve(), submission.resolve(), submission.resolve().parent):
        if extra != Path("/") and extra not in hide:
            hide.append(extra)
    return hide


def _grade_one_day(
    ch: Chapter,
    *,
    rubric: Rubric,
    ids: dict[str, list[str]],
    modules: dict[str, Path | None],
    static_note: str,
    hidden: bool,
    hide: list[Path],
    deadline: float,
    timings: dict[str, float],
    tag: str,
) -> DayGrade:
    rule = rubric[ch.marker]
    all_ids = [n for f in ids for n in ids[f]]
    if time.monotonic() >= deadline:
        run = DayRun(notes=["not graded: the submission's time cap was reached"])
        return score_day(ch, rule, ids, run, "")
    start = time.monotonic()
    stage = None
    # In the system's temp folder, which every user may traverse (a folder under a private
    # one, such as pytest's tmp_path, is out of the worker's reach).
    base = Path(tempfile.mkdtemp(prefix=f"specdec-grade-{tag}{ch.marker}-"))
    try:
        base.chmod(0o711)  # the worker's user may pass through, not list
        stage = Path(tempfile.mkdtemp(prefix="specdec-stage-"))
        scratch = base / "scratch"
        tree = build_tree(base / "tree", ch.marker, hidden=hidden, modules=modules)
        needed = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix, base)]
        needed.append((REPO_ROOT / "models").resolve())
        containment = contain(hide, needed, stage)
        chown_scratch(scratch, containment)
        if containment.uid is not None and (tree / "tests" / "hidden").is_dir():
            # Only this day's worker may read this day's hidden tests.
            for f in (tree / "tests" / "hidden").iterdir():
                os.chown(f, containment.uid, containment.uid)
            os.chown(tree / "tests" / "hidden", containment.uid, containment.uid)
        timeouts, strict, budget = day_times(rule, all_ids, timings)
        day = DaySetup(
            tree=tree,
            scratch=scratch,
            timeouts=timeouts,
            strict_timeouts=strict,
            collect_cap_s=rule.collect_cap_s,
            budget_s=min(budget, max(1.0, deadline - time.monotonic())),
            containment=containment,
            readable=[tree / "src", tree / "specdec_course", (REPO_ROOT / "models").resolve()],
            hide=[REPO_ROOT],
            log=base / "worker.log",
        )
        run = run_day(day, all_ids)
    finally:
        if os.environ.get("SPECDEC_GRADE_KEEP"):
            print(f"kept {base}", file=sys.stderr)
        else:
            remove_tree(base)
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
    grade = score_day(
        ch, rule, ids, run, static_note or _lost_to(ch, run), refused=bool(static_note)
    )
    grade.seconds = round(time.monotonic() - start, 1)
    return grade


def _commit() -> str:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
        )
        return proc.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def grade_submission(
    submission: str | Path,
    *,
    hidden: bool = False,
    out: str | Path = "grade-results",
    days: list[str] | None = None,
    rubric: Path = RUBRIC_PATH,
    jobs: int | None = None,
    cap_s: float = SUBMISSION_CAP_S,
    only: list[str] | None = None,
    static_check: bool = True,
    tag: str = "",
) -> dict:
    """Grade a submission; write ``grade.json``, ``student.json`` and ``junit.xml`` to ``out``.

    Args:
        submission: a student repository, a folder holding ``specdec/``, or the package.
        hidden: run the hidden tests too (``tests/hidden``, instructor checkouts only).
        out: output folder (created); must not be a file.
        days: chapter markers to grade (default: every chapter with tests).
        rubric: the rubric file.
        jobs: days graded at once (default: one per CPU core, at most 4).
        cap_s: the whole submission's wall-clock cap; days not started by then score 0.
        only: keep only test ids containing one of these strings (the course's own tests
            of the grader use it to stay fast).
        static_check: ``False`` skips the static check, so the course's tests can prove
            that the layers under it hold on their own. Never for real grading.
        tag: a word in the grading trees' folder names (the course's tests find a run's
            processes by it).

    Returns:
        The ``grade.json`` content.

    Raises:
        GradeError: for a bad submission, rubric, day or output folder, or hidden tests
            that are missing.
    """
    root = submission_root(submission)
    rules = load_rubric(rubric)
    timings = load_timings()
    if hidden and not HIDDEN_TESTS_DIR.is_dir():
        raise GradeError(
            f"--hidden needs {HIDDEN_TESTS_DIR.relative_to(REPO_ROOT)} (an instructor checkout)"
        )
    chosen = [c for c in CHAPTERS if days is None or c.marker in days]
    if days and len(chosen) != len(set(days)):
        raise GradeError(f"unknown day(s) {sorted(set(days) - {c.marker for c in CHAPTERS})}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GradeError(f"--out {out} is a file: give a folder for the grade files")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GradeError(f"cannot create the output folder {out}: {err.strerror}") from err
    start = time.monotonic()
    files = {
        ch.marker: [str(p.relative_to(REPO_ROOT)) for p in day_test_files(ch.marker)]
        + (
            [str(p.relative_to(REPO_ROOT)) for p in day_test_files(ch.marker, hidden=True)]
            if hidden
            else []
        )
        for ch in chosen
    }
    ids = collect_expected([f for fs in files.values() for f in fs])
    if only:
        ids = [i for i in ids if any(part in i for part in only)]
    found, ignored = submitted_files(root / "specdec")
    violations = check_package(root / "specdec", list(found)) if static_check else {}
    modules = {name: path for name, path in found.items() if name not in violations}
    notes = [f"ignored (not a task module): {cap(', '.join(ignored), 200)}"] if ignored else []
    notes += [f"static check: {v}" for vs in violations.values() for v in vs[:3]]
    hide = _hide_list(Path(submission), out)
    deadline = time.monotonic() + cap_s

    def one_day(ch: Chapter) -> DayGrade:
        expected = {f: [n for n in ids if n.startswith(f + "::")] for f in files[ch.marker]}
        broken = [v for m in sorted(_modules_of(ch) & set(violations)) for v in violations[m]]
        static_note = cap("static check: " + "; ".join(map(str, broken))) if broken else ""
        return _grade_one_day(
            ch,
            rubric=rules,
            ids=expected,
            modules=modules,
            static_note=static_note,
            hidden=hidden,
            hide=hide,
            deadline=deadline,
            timings=timings,
            tag=tag,
        )

    # Threads only wait on subprocesses; map keeps the course order of the days.
    with ThreadPoolExecutor(max_workers=jobs or default_workers()) as pool:
        with_tests = [
            ch
            for ch in chosen
            if any(n.startswith(f + "::") for f in files[ch.marker] for n in ids)
        ]
        grades = list(pool.map(one_day, with_tests))
    result = {
        "submission": str(root),
        "hidden": hidden,
        "points": round(sum(g.points for g in grades), 3),
        "max_points": round(sum(g.max_points for g in grades), 3),
        "seconds": round(time.monotonic() - start, 1),
        "grader": {
            "version": GRADER_VERSION,
            "commit": _commit(),
            "rubric_sha256": rules.sha256,
            "python": sys.version.split()[0],
        },
        "submission_notes": notes,
        "days": [asdict(g) for g in grades],
    }
    write_reports(result, out)
    return result
