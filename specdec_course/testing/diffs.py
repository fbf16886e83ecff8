"""Failure messages for token sequences that name the bug: too many, too few, or different.

A loop that overshoots its budget (or runs past an EOS) emits the right tokens plus extra ones;
one that stops early emits a prefix. Neither is a cache or padding bug, so the hint a test
gives for a genuine difference ("a cache not rewound", "padding visible") would mislead. The
tests compare through :func:`token_mismatch`, which says which of the three it is.

May import: nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence


def first_difference(got: Sequence[int], want: Sequence[int]) -> int:
    """The first index where ``got`` and ``want`` differ (the shorter length if one is a prefix)."""
    pairs = enumerate(zip(got, want, strict=False))
    return next((i for i, (x, y) in pairs if x != y), min(len(got), len(want)))


def token_mismatch(got: Sequence[int], want: Sequence[int], hint: str, *, what: str = "") -> str:
    """A message for ``got != want``: the overshoot, the early stop, or the first difference.

    Args:
        got, want: the emitted and the expected tokens.
        hint: the likely bug when the tokens really differ (e.g. "a cache not rewound").
        what: the case, first in the message (e.g. "row 2 (prompt length 1)").

    Returns:
        One sentence naming the kind of mismatch; ``hint`` only for a real difference.
    """
    head = f"{what}: " if what else ""
    got, want = list(got), list(want)
    if len(got) > len(want) and got[: len(want)] == want:
        return (
            f"{head}{len(got) - len(want)} token(s) too many: got {len(got)} tokens, want "
            f"{len(want)} {want[-3:]}... then nothing (extra {got[len(want) : len(want) + 3]}). "
            "Stop at max_tokens (a round emits at most the remaining budget) and right after "
            "an EOS"
        )
    if len(got) < len(want) and want[: len(got)] == got:
        return (
            f"{head}stopped {len(want) - len(got)} token(s) early: got {len(got)} tokens, want "
            f"{len(want)} (next would be {want[len(got) : len(got) + 3]}). Run until "
            "max_tokens or an EOS"
        )
    i = first_difference(got, want)
    return (
        f"{head}differs at token {i} (got {got[i : i + 3]}, want {want[i : i + 3]}). Likely: {hint}"
    )
