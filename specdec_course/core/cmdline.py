"""Command lines to print next to results, so a reader can reproduce them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence


def default_workers() -> int:
    """Parallel workers for the check and the grader: one per core, at most 4.

    Past 4 the test processes mostly wait on each other's model loads and the memory of a
    small laptop; below that each core roughly halves the wall-clock time.
    """
    return max(1, min(4, os.cpu_count() or 1))


def without_options(args: Sequence[str], valued: Iterable[str] = (), flags: Iterable[str] = ()) -> list[str]:
    """``args`` minus the options that only choose where results go.

    Args:
        args: command-line arguments, e.g. ``sys.argv[1:]``.
        valued: options followed by a value (``--out X`` and ``--out=X`` are both dropped).
        flags: options without a value.
    """
    valued, flags = tuple(valued), tuple(flags)
    kept: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a in valued:
            skip = True
        elif a not in flags and not a.startswith(tuple(f"{v}=" for v in valued)):
            kept.append(a)
    return kept
