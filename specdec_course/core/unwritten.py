"""Commands that run student code turn an unwritten stub into one friendly line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from specdec_course.core.impl import REFERENCE_IMPL
from specdec_course.core.tasks import chapter_of_stub_message


class TaskNotWritten(Exception):
    """A stub raised NotImplementedError; carries its message."""


@contextmanager
def friendly_stubs() -> Iterator[None]:
    """Turn a stub's NotImplementedError into :class:`TaskNotWritten`."""
    try:
        yield
    except NotImplementedError as err:
        raise TaskNotWritten(str(err)) from None


def report_unwritten(console: Console, err: TaskNotWritten, impl: str) -> int:
    """Explain which task to finish and how to test it; returns the exit status."""
    console.print(f"[yellow]{err}[/yellow]")
    if impl == "src":
        ch = chapter_of_stub_message(str(err))
        test = f"specdec test --week {ch.week} --day {ch.day}" if ch else "specdec test"
        also = (
            f", or add [bold]--impl {REFERENCE_IMPL}[/bold] to see the finished system"
            if REFERENCE_IMPL
            else ""
        )
        console.print(f"Finish that task (its tests: [bold]{test}[/bold]){also}.")
    return 1
