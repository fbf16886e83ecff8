"""Mutation check: realistic student bugs, applied to a copy of the reference, must fail the tests.

Each :class:`Mutant` replaces one unique code snippet of a ``solutions/specdec`` module with a
buggy version a student plausibly writes. :func:`run` copies ``solutions/`` to a temporary
folder, applies one mutant, and runs that day's public test file(s) against the copy (through
``$SPECDEC_IMPL_PATH``, which the ``--impl`` switch honours when no ``--impl`` is given); a
survivor then meets the day's hidden tests (``tests/hidden/test_<day>_*.py``, named explicitly:
``norecursedirs`` only skips the folder when pytest searches). A mutant is *killed* when the
tests fail, "(public)" or "(hidden only)"; the bar is >= 95 % killed by either.

A kill only helps a student whose failure message names the bug: each mutant lists a few words
(``Mutant.says``, e.g. ``("residual",)``; ``"a|b"`` for either) that the first failure's message
(the failing test's name and the exception line pytest records, assertion message included)
must contain, case-insensitive. The words come from the bug, not from today's message. It reports,
per day, the share of killed mutants whose message does; the goal is >= 90 % over all days. A
kill by a timeout or by an MLX error on a zero-size array names nothing.

Run on demand (minutes, not part of the default suite)::

    uv run python -m specdec_course.authoring.mutants            # every day
    uv run python -m specdec_course.authoring.mutants --day w1d4 # one day
    uv run python -m specdec_course.authoring.mutants --list     # the table only
    uv run python -m specdec_course.authoring.mutants --day w3d2 --show  # print the messages

The tables of mutants are ``mutant_table.py`` (Weeks 1-2, W4D2) and ``mutant_table_w34.py``.

May import: ``core`` (and this package's own table).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from specdec_course.authoring import mutant_table, mutant_table_w5, mutant_table_w34
from specdec_course.authoring.mutant_table import Mutant
from specdec_course.core.impl import ENV_VAR, PATH_VAR
from specdec_course.core.paths import REPO_ROOT, day_test_files
from specdec_course.core.tasks import CHAPTERS

SOLUTIONS = REPO_ROOT / "solutions"
#: The share of mutants the tests (public or hidden) must kill.
BAR = 0.95
#: The share of killed mutants whose first failure message names the bug (the goal).
NAMED_GOAL = 0.90
#: How pytest's JUnit report marks a message it cut short ("[+10 more lines; ...]").
TRUNCATED = re.compile(r"\[\+\d+ more lines?; full report in element text\]")
_ORDER = [c.marker for c in CHAPTERS]
#: Every mutant of both tables, in course order (a day not in CHAPTERS fails right here).
MUTANTS: tuple[Mutant, ...] = tuple(
    sorted(
        mutant_table.MUTANTS + mutant_table_w34.MUTANTS + mutant_table_w5.MUTANTS,
        key=lambda m: _ORDER.index(m.day),
    )
)


def days() -> list[str]:
    """The days that have mutants, in course order."""
    return sorted({m.day for m in MUTANTS}, key=_ORDER.index)


def table_problems(solutions: Path = SOLUTIONS) -> list[str]:
    """Mutants whose snippet is not exactly once in its module (the table went stale)."""
    problems = []
    for i, m in enumerate(MUTANTS):
        path = solutions / "specdec" / f"{m.module}.py"
        count = path.read_text().count(m.find) if path.exists() else 0
        if count != 1:
            problems.append(
                f"mutant {i} ({m.day}, {m.bug}): snippet found {count} times in {path.name}"
            )
    return problems


def apply(mutant: Mutant, dest: Path, solutions: Path = SOLUTIONS) -> Path:
    """Copy ``solutions/specdec`` to ``dest/specdec`` with ``mutant`` applied; returns ``dest``.

    Raises:
        ValueError: if the snippet is not exactly once in the module, or the mutated module
            does not parse (a broken mutant would be "killed" by a SyntaxError).
    """
    shutil.copytree(
        solutions / "specdec", dest / "specdec", ignore=shutil.ignore_patterns("__pycache__")
    )
    path = dest / "specdec" / f"{mutant.module}.py"
    source = path.read_text()
    if source.count(mutant.find) != 1:
        raise ValueError(f"{mutant.bug}: snippet not found exactly once in {mutant.module}.py")
    mutated = source.replace(mutant.find, mutant.replace)
    ast.parse(mutated)
    path.write_text(mutated)
    return dest


def test_files(day: str) -> list[Path]:
    """The day's test file(s): ``tests/test_<day>_*.py``."""
    return day_test_files(day)


def hidden_files(day: str) -> list[Path]:
    """The day's hidden test file(s): ``tests/hidden/test_<day>_*.py`` (none in a handout)."""
    return day_test_files(day, hidden=True)


def _first_failure(junit: Path) -> str:
    """The message of the first failed or erroring test in a JUnit XML report ('' if none)."""
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return ""
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is not None:
                message = node.get("message") or (node.text or "").strip()
                if TRUNCATED.search(message):
                    # pytest cuts a long message short in the attribute; the student's terminal
                    # shows it whole, as the report's "E   " lines do.
                    lines = (node.text or "").splitlines()
                    message += " " + " ".join(ln[1:].strip() for ln in lines if ln[:1] == "E")
                return f"{case.get('name', '')}: {message}"
    return ""


def names_bug(mutant: Mutant, message: str) -> bool:
    """Whether ``message`` contains every entry of ``mutant.says`` (case-insensitive).

    An entry ``"a|b"`` is satisfied by either word. The message is what pytest's summary line
    shows a student: the test's name, then the exception line (assertion message included).
    """
    text = message.lower()
    return bool(mutant.says) and all(
        any(word.lower() in text for word in entry.split("|")) for entry in mutant.says
    )


def _pytest(files: list[Path], impl_path: str, timeout: float) -> tuple[bool, str, str]:
    """Run ``files`` against the copy at ``impl_path``.

    Returns:
        (failed, pytest's last line, the first failure's message or '').
    """
    env = {**os.environ, PATH_VAR: impl_path, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop(ENV_VAR, None)
    junit = Path(impl_path) / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", *map(str, files)]
    cmd += ["-x", "-q", "-p", "no:cacheprovider", "--no-header", f"--junitxml={junit}"]
    try:
        out = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return True, "timed out (counted as killed: a hang is noticed)", "timed out"
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    summary = lines[-1] if lines else out.stderr.strip()[-200:]
    if out.returncode not in (0, 1):
        raise RuntimeError(f"pytest could not run {files[0].name}: {summary}")
    return out.returncode == 1, summary, _first_failure(junit)


def run_one(mutant: Mutant, *, timeout: float = 180) -> tuple[str, str, str]:
    """Run the day's tests against ``mutant``: public first, hidden only if it survives.

    Returns:
        (verdict, last line of the deciding pytest run, its first failure message); verdict is
        ``"public"`` (killed by the public tests), ``"hidden"`` (killed by the hidden tests
        only) or ``"survived"``.
    """
    with tempfile.TemporaryDirectory(prefix="specdec-mutant-") as tmp:
        apply(mutant, Path(tmp))
        try:
            dead, summary, message = _pytest(test_files(mutant.day), tmp, timeout)
            if dead:
                return "public", summary, message
            hidden = hidden_files(mutant.day)
            if hidden:
                dead, summary, message = _pytest(hidden, tmp, timeout)
        except RuntimeError as err:
            raise RuntimeError(f"mutant {mutant.bug!r}: {err}") from None
    return ("hidden" if dead else "survived"), summary, message


LABELS = {"public": "killed (public)", "hidden": "killed (hidden only)", "survived": "SURVIVED"}


def run(
    selected: list[str] | None = None,
    *,
    echo=print,
    show: bool = False,
    records: list | None = None,
) -> dict[str, tuple[int, int, int, int]]:
    """Run every mutant of the selected days; returns {day: (public, either, total, named)}.

    ``public`` counts the mutants the public tests kill, ``either`` those killed by the public
    or the hidden tests, ``named`` the killed ones whose first failure message names the bug
    (:func:`names_bug`). ``show`` echoes every killed mutant's message; ``records`` (a list)
    receives one dict per mutant.
    """
    problems = table_problems()
    if problems:
        raise SystemExit("the mutant table is stale:\n  " + "\n  ".join(problems))
    figures: dict[str, tuple[int, int, int, int]] = {}
    for day in selected or days():
        mutants = [m for m in MUTANTS if m.day == day]
        public = either = named = 0
        for m in mutants:
            start = time.perf_counter()
            verdict, summary, message = run_one(m)
            named_it = verdict != "survived" and names_bug(m, message)
            public += verdict == "public"
            either += verdict != "survived"
            named += named_it
            secs = time.perf_counter() - start
            mark = "" if verdict == "survived" or named_it else "  [message misses the bug]"
            echo(f"{day} {LABELS[verdict]:20} {m.module}: {m.bug}  ({secs:.0f} s; {summary}){mark}")
            if show and verdict != "survived":
                echo(f"    says {list(m.says)}; message: {message[:400]!r}")
            if records is not None:
                records.append({"day": day, "bug": m.bug, "verdict": verdict, "message": message})
        figures[day] = (public, either, len(mutants), named)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Command line: run the mutants, print the kills per day; exit 1 below the bar."""
    parser = argparse.ArgumentParser(
        prog="python -m specdec_course.authoring.mutants", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--day", action="append", choices=days(), help="only this day (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the table and exit")
    parser.add_argument("--show", action="store_true", help="print each killed mutant's message")
    parser.add_argument("--json", type=Path, help="write one record per mutant to this file")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTANTS:
            if not args.day or m.day in args.day:
                print(f"{m.day} {m.module:10} {m.bug}  (says {list(m.says)})")
        return 0
    records: list[dict] = []
    figures = run(args.day, show=args.show, records=records)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    for day, (p, e, t, n) in figures.items():
        print(
            f"{day}: {p}/{t} killed by the public tests, {e}/{t} by public or hidden; "
            f"message names the bug: {n}/{e}"
        )
    public, killed, total, named = (sum(f[i] for f in figures.values()) for i in range(4))
    share = killed / total if total else 1.0
    print(
        f"total: {public}/{total} killed by the public tests, {killed}/{total} by either "
        f"({share:.0%}; bar {BAR:.0%} on either); message names the bug: {named}/{killed} "
        f"({named / killed if killed else 1.0:.0%}; goal {NAMED_GOAL:.0%})"
    )
    return 0 if share >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
