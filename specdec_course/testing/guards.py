"""The test models' answer to an empty input: a message naming the bug, not an MLX error.

A real transformer fed a ``(B, 0)`` batch fails deep inside MLX (``[reshape] Cannot infer the
shape of an empty array``), which names no student bug. Feeding zero tokens always is one: the
cache already holds the whole context (it was not trimmed back to the common prefix or the
accepted length), or an empty draft went to the verify pass. Every test model calls
:func:`refuse_empty` first; tests of K = 0 and empty drafts wrap the call in :func:`zero_size`.

May import: nothing of ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# An MLX operation's own error: "[argmax] Cannot argmax reduce zero size array."
_MLX_OP_ERROR = re.compile(r"^\[\w+\] ")


def refuse_empty(inputs: Any, model: str) -> None:
    """Raise an AssertionError naming the likely bug when ``inputs`` holds zero tokens.

    Args:
        inputs: the token ids a model was called with (anything with ``shape``).
        model: the model's name for the message.
    """
    shape = tuple(getattr(inputs, "shape", ()))
    if len(shape) == 2 and 0 in shape:
        raise AssertionError(
            f"{model} was called with an empty batch of token ids, shape {shape}: there is "
            "nothing to compute. Likely the cache already holds every token you meant to feed "
            "(not trimmed back to the common prefix / the accepted length), or an empty list "
            "of pending or draft tokens was fed (K = 0 needs its own case)"
        )


@contextmanager
def zero_size(case: str, hint: str) -> Iterator[None]:
    """Turn an MLX error on a zero-size array inside the block into an AssertionError.

    MLX refuses to reduce, argmax or reshape-infer a zero-size array (``[argmax] Cannot argmax
    reduce zero size array``); inside student code on a K = 0 or empty-draft case that error
    names neither the case nor the fix. Errors that are not MLX's pass through unchanged.

    Args:
        case: the edge case, e.g. "K = 0 (no draft tokens)".
        hint: what the code should do for it, e.g. "emit the target's argmax of row 0".
    """
    try:
        yield
    except (ValueError, IndexError, RuntimeError) as err:
        if not _MLX_OP_ERROR.match(str(err)):
            raise
        raise AssertionError(
            f"{case}: your code hit an MLX error on a zero-size array ({err}). MLX cannot "
            f"reduce or argmax an empty array, so this case needs its own branch: {hint}"
        ) from err


def refuse_other_batch(inputs: Any, cache: Any, model: str) -> None:
    """Raise an AssertionError when ``inputs`` has another number of rows than ``cache``.

    A ragged loop that drops finished rows from its list of live rows but not from the
    cache feeds ``B_live`` rows to a cache of ``B`` rows: MLX then fails in a broadcast
    (``[broadcast_shapes] Shapes (2,1,1,1) and (3,1,1,1)``), which names neither.
    """
    layer = cache[0] if cache else None
    rows = getattr(layer, "batch_size", None)
    shape = tuple(getattr(inputs, "shape", ()))
    if isinstance(rows, int) and len(shape) == 2 and rows and shape[0] != rows:
        raise AssertionError(
            f"{model} was fed {shape[0]} rows but its cache holds {rows}: when rows leave the "
            "batch, drop them from the cache too (filter_rows(cache, keep)), in the same order "
            "as your list of live rows"
        )

