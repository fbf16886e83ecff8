"""What the long benches share: rows whose code is not written yet, a loaded machine, progress.

* :func:`probe` runs each row once (the warm-up a bench does anyway) and sets aside every row
  whose code hits a stub's ``NotImplementedError``: the bench measures the rows that run and
  lists the rest with the task that unlocks each, so a student can run it from the first
  days on instead of meeting "task ... is not written yet" and nothing else.
* :func:`warn_if_loaded` says so before a run when the load average exceeds the core count:
  the figures will then be low and noisy, whoever wrote the code.
* :func:`progress` is a rich progress bar with an estimate of the time left, for benches that
  otherwise print nothing for minutes.

May import: ``core``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from specdec_course.core.tasks import chapter_of_stub_message

K = TypeVar("K")


@dataclass(frozen=True)
class Skipped:
    """A row the bench did not measure, and the task whose stub stopped it."""

    row: str
    task: str

    def line(self) -> str:
        """``"skipped fast loop: Week 4 Day 3 task `fast_generate` is not written yet ..."``."""
        ch = chapter_of_stub_message(self.task)
        test = f" (specdec test --week {ch.week} --day {ch.day})" if ch else ""
        return f"skipped {self.row}: {self.task}{test}"


def probe(rows: dict[K, Callable[[], Any]], name: Callable[[K], str] = str) -> list[Skipped]:
    """Run every row once; remove (in place) the rows whose code is not written yet.

    Args:
        rows: key -> a call that runs the row once (its untimed warm-up).
        name: the row's name for the report, from its key.

    Returns:
        The removed rows, each with the stub's message (the task that unlocks it).
    """
    skipped: list[Skipped] = []
    for key in list(rows):
        try:
            rows[key]()
        except NotImplementedError as err:
            skipped.append(Skipped(name(key), str(err)))
            del rows[key]
    return skipped


def print_machine(console: Console, blas: str, device: str, machine: str) -> None:
    """The BLAS / device / machine line that opens every bench table (what a figure ran on)."""
    console.print(
        f"[bold]BLAS:[/bold] {blas}   [bold]device:[/bold] {device}   "
        f"[bold]machine:[/bold] {machine}"
    )


def print_skipped(console: Console, lines: list[str]) -> None:
    """One line per skipped row (:meth:`Skipped.line`; nothing when every row ran)."""
    if lines:
        console.print(
            f"[yellow]{len(lines)} row(s) skipped: their code is not written yet[/yellow]"
        )
    for line in lines:
        console.print(f"  {line}", style="yellow", markup=False, highlight=False)


def loaded() -> tuple[float, int] | None:
    """(1-minute load average, cores) when the load exceeds the core count, else None."""
    try:
        one = os.getloadavg()[0]
    except OSError:
        return None
    cores = os.cpu_count() or 1
    return (one, cores) if one > cores else None


def warn_if_loaded(console: Console) -> None:
    """Before a run: say that the figures will be low and noisy on a busy machine."""
    busy = loaded()
    if busy:
        console.print(
            f"[yellow]warning: load average {busy[0]:.1f} on {busy[1]} cores: other work is "
            "running, so the figures below will be low and noisy (they say little about your "
            "code); rerun on a quiet machine for figures to compare[/yellow]"
        )


@contextmanager
def progress(console: Console, total: int, what: str) -> Iterator[Callable[[str], None]]:
    """A progress bar over ``total`` steps; yields ``step(label)``, called after each step."""
    bar = Progress(
        TextColumn("[dim]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(what, total=total)

        def step(label: str) -> None:
            bar.update(task, advance=1, description=f"{what}: {label}")

        yield step


#: Said of a goal that the course's own reference misses on the machines it was measured on.
REFERENCE_SHORT = (
    "the course's own reference does not reach this goal on a 2-core CPU either (see the "
    "chapter's measured figures), so a shortfall here need not mean your code is slow"
)


def goal_line(label: str, value: float, goal: float, *, reference_short: bool = False) -> str:
    """``"goal <label>: 1.20x vs 1.5x: not met (...)"``, in rich markup.

    Args:
        label: what is compared.
        value, goal: the measured ratio and its goal.
        reference_short: the course's reference misses this goal too; a miss says so.
    """
    met = value >= goal
    verdict = "[green]met[/green]" if met else "[yellow]not met[/yellow]"
    note = f" ({REFERENCE_SHORT})" if reference_short and not met else ""
    return f"goal {label}: {value:.2f}x vs {goal:.1f}x: {verdict}{note}"


def write_report(report: Any, out: str | Path, name: str) -> Path:
    """Write a bench's report dataclass as ``out/name`` (indented JSON); return the path."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return path
