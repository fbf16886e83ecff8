"""The drafter interface: anything that proposes tokens for the target to verify.

Week 1's :class:`~specdec.decoder.SpeculativeDecoder` drafts with a small model. Week 4 drafts
without one (prompt lookup) and, later, with trees; the verification step does not care where
the proposal came from, only what it is and from which distribution it was drawn. This module
states that contract once, so the course's loop, tests and bench accept every drafter alike.

It lives in ``specdec_course.api`` (not in a student module) because it is a contract the
course fixes, not code students write: a ``Protocol`` has no body to fill in, and the bench
and tests type-check student drafters against it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import mlx.core as mx


@runtime_checkable
class Drafter(Protocol):
    """Proposes up to ``k`` tokens after a context, with the distribution they came from.

    Attributes:
        draft_calls: forward passes of a draft model since the last :meth:`reset`
            (0 forever for a drafter without a model, such as prompt lookup).
    """

    draft_calls: int

    def reset(self) -> None:
        """Forget all state (caches, counters) before a new generation."""
        ...

    def propose(
        self, context: list[int], k: int, *, key: mx.array | None = None
    ) -> tuple[list[int], mx.array]:
        """Propose up to ``k`` tokens to follow ``context``.

        Args:
            context: every token so far (prompt and generated), ``len >= 1``.
            k: the most tokens to propose (``>= 0``); fewer, even none, is allowed.
            key: PRNG key for drafters that sample.

        Returns:
            ``(tokens, logits)``: ``n <= k`` token ids and float32 logits of shape
            ``(n, V)`` whose row ``i`` is the distribution ``tokens[i]`` was drawn from
            at the generation's temperature. A deterministic proposal is a one-hot
            distribution: logits 0 at the token and a large *finite* negative number
            elsewhere (``softmax`` would cope with ``-inf``, but ``0 * -inf`` and
            ``-inf - -inf`` are NaN in any arithmetic around it).
        """
        ...


#: The "log of zero" a one-hot proposal uses off its token: exp(-1e4 / T) is exactly 0.0 in
#: float32 for every T <= 50, yet the number is finite, so masking (0 * x) or subtracting rows
#: of logits never makes NaN, as -inf would.
ONE_HOT_OFF = -1.0e4
