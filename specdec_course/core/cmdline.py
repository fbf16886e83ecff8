"""Command lines to print next to results, so a reader can reproduce them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


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
