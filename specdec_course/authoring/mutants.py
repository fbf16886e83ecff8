"""Mutation check: realistic student bugs, applied to a copy of the reference, must fail the tests.

Each :class:`Mutant` replaces one unique code snippet of a ``solutions/specdec`` module with a
buggy version a student plausibly writes. :func:`run` copies ``solutions/`` to a temporary
folder, applies one mutant, and runs that day's public test file(s) against the copy (through
``$SPECDEC_IMPL_PATH``, which the ``--impl`` switch honours when no ``--impl`` is given); a
survivor then meets the day's hidden tests (``tests/hidden/test_<day>_*.py``, named explicitly:
``norecursedirs`` only skips the folder when pytest searches). A mutant is *killed* when the
tests fail, "(public)" or "(hidden only)"; the bar is >= 95 % killed by either.

Run on demand (minutes, not part of the default suite)::

    uv run python -m specdec_course.authoring.mutants            # every day
    uv run python -m specdec_course.authoring.mutants --day w1d4 # one day
    uv run python -m specdec_course.authoring.mutants --list     # the table only

The tables of mutants are ``mutant_table.py`` (Weeks 1-2, W4D2) and ``mutant_table_w34.py``.

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

from specdec_course.authoring import mutant_table, mutant_table_w34
from specdec_course.authoring.mutant_table import Mutant
from specdec_course.core.impl import ENV_VAR, PATH_VAR
from specdec_course.core.paths import REPO_ROOT, day_test_files
from specdec_course.core.tasks import CHAPTERS

SOLUTIONS = REPO_ROOT / "solutions"
#: The share of mutants the tests (public or hidden) must kill.
BAR = 0.95
_ORDER = [c.marker for c in CHAPTERS]
#: Every mutant of both tables, in course order (a day not in CHAPTERS fails right here).
MUTANTS: tuple[Mutant, ...] = tuple(
    sorted(mutant_table.MUTANTS + mutant_table_w34.MUTANTS, key=lambda m: _ORDER.index(m.day))
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


def _pytest(files: list[Path], impl_path: str, timeout: float) -> tuple[bool, str]:
    """Run ``files`` against the copy at ``impl_path``; returns (failed, pytest's last line)."""
    env = {**os.environ, PATH_VAR: impl_path, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop(ENV_VAR, None)
    cmd = [sys.executable, "-m", "pytest", *map(str, files)]
    cmd += ["-x", "-q", "-p", "no:cacheprovider", "--no-header"]
    try:
        out = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return True, "timed out (counted as killed: a hang is noticed)"
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    summary = lines[-1] if lines else out.stderr.strip()[-200:]
    if out.returncode not in (0, 1):
        raise RuntimeError(f"pytest could not run {files[0].name}: {summary}")
    return out.returncode == 1, summary


def run_one(mutant: Mutant, *, timeout: float = 180) -> tuple[str, str]:
    """Run the day's tests against ``mutant``: public first, hidden only if it survives.

    Returns:
        (verdict, last line of the deciding pytest run); verdict is ``"public"`` (killed by
        the public tests), ``"hidden"`` (killed by the hidden tests only) or ``"survived"``.
    """
    with tempfile.TemporaryDirectory(prefix="specdec-mutant-") as tmp:
        apply(mutant, Path(tmp))
        try:
            dead, summary = _pytest(test_files(mutant.day), tmp, timeout)
            if dead:
                return "public", summary
            hidden = hidden_files(mutant.day)
            if hidden:
                dead, summary = _pytest(hidden, tmp, timeout)
        except RuntimeError as err:
            raise RuntimeError(f"mutant {mutant.bug!r}: {err}") from None
    return ("hidden" if dead else "survived"), summary


LABELS = {"public": "killed (public)", "hidden": "killed (hidden only)", "survived": "SURVIVED"}


def run(selected: list[str] | None = None, *, echo=print) -> dict[str, tuple[int, int, int]]:
    """Run every mutant of the selected days; returns {day: (public, either, total)}.

    ``public`` counts the mutants the public tests kill, ``either`` those killed by the public
    or the hidden tests.
    """
    problems = table_problems()
    if problems:
        raise SystemExit("the mutant table is stale:\n  " + "\n  ".join(problems))
    figures: dict[str, tuple[int, int, int]] = {}
    for day in selected or days():
        mutants = [m for m in MUTANTS if m.day == day]
        public = either = 0
        for m in mutants:
            start = time.perf_counter()
            verdict, summary = run_one(m)
            public += verdict == "public"
            either += verdict != "survived"
            secs = time.perf_counter() - start
            echo(f"{day} {LABELS[verdict]:20} {m.module}: {m.bug}  ({secs:.0f} s; {summary})")
        figures[day] = (public, either, len(mutants))
    return figures


def main(argv: list[str] | None = None) -> int:
    """Command line: run the mutants, print the kills per day; exit 1 below the bar."""
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
    for day, (p, e, t) in figures.items():
        print(f"{day}: {p}/{t} killed by the public tests, {e}/{t} by public or hidden")
    public, killed, total = (sum(f[i] for f in figures.values()) for i in range(3))
    share = killed / total if total else 1.0
    print(
        f"total: {public}/{total} killed by the public tests, {killed}/{total} by either "
        f"({share:.0%}; bar {BAR:.0%} on either)"
    )
    return 0 if share >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
