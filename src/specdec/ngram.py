# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 4 Day 1: prompt lookup - drafting without a draft model.

Code, chat replies and edits repeat what is already in the context: a variable name, a
call with the same arguments, a line copied from the prompt. A *prompt lookup* drafter
proposes the tokens that followed the most recent earlier occurrence of the context's
last n-gram; it costs a few list comparisons instead of a draft model's forward passes.

Any proposal is verified by the target exactly as in Week 1, so the output stays
lossless. Under sampling a deterministic proposal is a one-hot draft distribution
``q``: the token is accepted with probability ``p(d)``, and on rejection the residual
``max(0, p - q)`` is ``p`` without ``d``.

This module holds the matcher and the drafter; :mod:`specdec.lookup` holds the loop that
verifies any drafter's proposals and the drafters that wrap a draft model.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx

from specdec_course.api.drafting import ONE_HOT_OFF
from specdec_course.api.validation import check_count


# Given: the n-gram sizes' checks, shared by find_ngram_match and NgramDrafter.
def _check_ngram_sizes(max_ngram: Any, min_ngram: Any) -> None:
    check_count(max_ngram, "max_ngram")
    check_count(min_ngram, "min_ngram")
    if min_ngram < 1:
        raise ValueError(f"min_ngram must be >= 1 (a 0-gram matches everywhere), got {min_ngram}")
    if max_ngram < min_ngram:
        raise ValueError(
            f"max_ngram ({max_ngram}) must be >= min_ngram ({min_ngram}): the drafter tries "
            "n = max_ngram down to min_ngram"
        )


def find_ngram_match(
    context: list[int], k: int, *, max_ngram: int = 3, min_ngram: int = 1
) -> list[int]:
    """The tokens that followed the most recent earlier occurrence of the context's tail.

    For ``n`` from ``max_ngram`` down to ``min_ngram``: take the last ``n`` tokens of the
    context, find the occurrence of the same ``n`` tokens that starts latest while still
    being followed by at least one token of the context, and return up to ``k`` of the
    tokens that follow it. The first ``n`` with a match wins (a longer match is better
    evidence); the most recent occurrence wins among equals (the local pattern).

    Example: ``context = [1, 2, 3, 9, 1, 2, 3, 7, 1, 2, 3]``, ``k = 2`` -> ``[7, 1]``
    (the 3-gram ``1 2 3`` last occurred at index 4, followed by ``7 1 2 3``).

    Args:
        context: the token ids so far (may be empty: no match).
        k: the most tokens to return (``>= 0``).
        max_ngram: the longest tail tried (``>= min_ngram``).
        min_ngram: the shortest tail tried (``>= 1``).

    Returns:
        Between 0 and ``k`` token ids; ``[]`` when no tail of any tried length reoccurs.

    Raises:
        TypeError / ValueError: for non-int or negative ``k``, ``min_ngram < 1`` or
            ``max_ngram < min_ngram``.
    """
    # TODO(W4D1): find the tokens after the latest earlier occurrence of the last n-gram.
    #   1. Check k and the n-gram sizes (_check_ngram_sizes); k == 0 returns [].
    #   2. For n = max_ngram down to min_ngram (only n < len(context): a match must end
    #      before the last token so that something follows it):
    #   3.   scan start positions from len(context) - n - 1 down to 0 for context[start:start+n]
    #        equal to the last n tokens;
    #   4.   on the first hit return context[start + n : start + n + k] (possibly < k tokens).
    #   5. No hit for any n: return [].
    raise NotImplementedError(
        "Week 4 Day 1 task `find_ngram_match` is not written yet: "
        "see book chapter week4-01-prompt-lookup"
    )


def one_hot_logits(tokens: list[int], vocab_size: int) -> mx.array:
    """Logits of a deterministic proposal: every row puts all its mass on one token.

    Args:
        tokens: ``n >= 0`` token ids in ``[0, vocab_size)``.
        vocab_size: ``V``.

    Returns:
        float32 ``(n, V)``: 0 at ``tokens[i]`` in row ``i``, ``ONE_HOT_OFF`` (-1e4) elsewhere,
        so ``softmax(row / T)`` is one-hot for every temperature the course uses, and no
        ``-inf`` can make arithmetic on the logits NaN (``0 * -inf``, ``-inf - -inf``).
    """
    # TODO(W4D1): one row per token: 0 at the token, ONE_HOT_OFF elsewhere, float32 (n, V).
    #   1. n == 0: return an empty float32 array of shape (0, V).
    #   2. Compare mx.arange(V) with the tokens as a column and pick 0 or ONE_HOT_OFF.
    raise NotImplementedError(
        "Week 4 Day 1 task `one_hot_logits` is not written yet: "
        "see book chapter week4-01-prompt-lookup"
    )


class NgramDrafter:
    """Prompt lookup: proposes with :func:`find_ngram_match`, never runs a model.

    Attributes:
        vocab_size: ``V`` of the target (the width of the one-hot rows).
        max_ngram, min_ngram: the tail lengths tried, longest first.
        draft_calls: always 0 (no model).
        hits, misses: proposals that found a match / found none since :meth:`reset`.
    """

    def __init__(self, vocab_size: int, *, max_ngram: int = 3, min_ngram: int = 1):
        """Check and store the settings.

        Raises:
            TypeError / ValueError: for a vocabulary size below 1 or bad n-gram sizes,
                before any model runs.
        """
        # TODO(W4D1): check and store the settings.
        #   1. vocab_size must be an int >= 1; check the n-gram sizes with _check_ngram_sizes.
        #   2. Store vocab_size, max_ngram, min_ngram; draft_calls = hits = misses = 0.
        raise NotImplementedError(
            "Week 4 Day 1 task `NgramDrafter.__init__` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )

    def reset(self) -> None:
        """Zero the counters (there is no cache to forget)."""
        # TODO(W4D1): forget the counters.
        #   1. Set draft_calls, hits and misses to 0.
        raise NotImplementedError(
            "Week 4 Day 1 task `NgramDrafter.reset` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )

    def propose(
        self, context: list[int], k: int, *, key: mx.array | None = None
    ) -> tuple[list[int], mx.array]:
        """Up to ``k`` looked-up tokens and their one-hot logits ``(n, V)`` (key unused)."""
        # TODO(W4D1): propose the looked-up tokens.
        #   1. find_ngram_match with this drafter's max_ngram / min_ngram.
        #   2. For k > 0 count a hit (tokens found) or a miss (none).
        #   3. Return the tokens and one_hot_logits for them.
        raise NotImplementedError(
            "Week 4 Day 1 task `NgramDrafter.propose` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )
