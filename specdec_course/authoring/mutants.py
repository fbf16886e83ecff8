"""Mutation check: realistic student bugs, applied to a copy of the reference, must fail the tests.

Each :class:`Mutant` replaces one unique code snippet of a ``solutions/specdec`` module with a
buggy version a student plausibly writes. :func:`run` copies ``solutions/`` to a temporary
folder, applies one mutant, and runs that day's test file against the copy (through
``$SPECDEC_IMPL_PATH``, which the ``--impl`` switch honours when no ``--impl`` is given). A
mutant is *killed* when the tests fail; the bar is >= 95 % killed.

Run on demand (minutes, not part of the default suite)::

    uv run python -m specdec_course.authoring.mutants            # every day
    uv run python -m specdec_course.authoring.mutants --day w1d4 # one day
    uv run python -m specdec_course.authoring.mutants --list     # the table only

The table of mutants is in ``mutant_table.py``.

May import: ``core`` (and this package's own table).
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from specdec_course.authoring.mutant_table import MUTANTS, Mutant
from specdec_course.core.impl import PATH_VAR
from specdec_course.core.paths import REPO_ROOT
from specdec_course.core.tasks import CHAPTERS

SOLUTIONS = REPO_ROOT / "solutions"
TESTS = REPO_ROOT / "tests"
#: The share of mutants the tests must kill.
BAR = 0.95


def days() -> list[str]:
    """The days that have mutants, in course order."""
    order = [c.marker for c in CHAPTERS]
    return sorted({m.day for m in MUTANTS}, key=order.index)


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
    return sorted(TESTS.glob(f"test_{day}_*.py"))


def run_one(mutant: Mutant, *, timeout: float = 180) -> tuple[bool, str]:
    """Run the day's tests against ``mutant``; returns (killed, last line of pytest's output)."""
    with tempfile.TemporaryDirectory(prefix="specdec-mutant-") as tmp:
        apply(mutant, Path(tmp))
        env = {**os.environ, PATH_VAR: tmp, "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("SPECDEC_IMPL", None)
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            *map(str, test_files(mutant.day)),
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
        ]
        try:
            out = subprocess.run(
                cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return True, "timed out (counted as killed: a hang is noticed)"
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    summary = lines[-1] if lines else out.stderr.strip()[-200:]
    if out.returncode not in (0, 1):
        raise RuntimeError(f"pytest could not run for mutant {mutant.bug!r}: {summary}")
    return out.returncode == 1, summary


def run(selected: list[str] | None = None, *, echo=print) -> dict[str, tuple[int, int]]:
    """Run every mutant of the selected days; returns {day: (killed, total)}."""
    problems = table_problems()
    if problems:
        raise SystemExit("the mutant table is stale:\n  " + "\n  ".join(problems))
    figures: dict[str, tuple[int, int]] = {}
    for day in selected or days():
        mutants = [m for m in MUTANTS if m.day == day]
        killed = 0
        for m in mutants:
            start = time.perf_counter()
            dead, summary = run_one(m)
            killed += dead
            mark = "killed  " if dead else "SURVIVED"
            secs = time.perf_counter() - start
            echo(f"{day} {mark} {m.module}: {m.bug}  ({secs:.0f} s; {summary})")
        figures[day] = (killed, len(mutants))
    return figures


def main(argv: list[str] | None = None) -> int:
    """Command line: run the mutants, print killed/total per day; exit 1 below the bar."""
    parser = argparse.ArgumentParser(
        prog="python -m specdec_course.authoring.mutants", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--day", action="append", choices=days(), help="only this day (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the table and exit")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTANTS:
            if not args.day or m.day in args.day:
                print(f"{m.day} {m.module:10} {m.bug}")
        return 0
    figures = run(args.day)
    killed = sum(k for k, _ in figures.values())
    total = sum(t for _, t in figures.values())
    for day, (k, t) in figures.items():
        print(f"{day}: {k}/{t} killed")
    share = killed / total if total else 1.0
    print(f"total: {killed}/{total} killed ({share:.0%}; bar {BAR:.0%})")
    return 0 if share >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
