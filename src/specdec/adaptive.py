# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 2 Day 3: a lookahead that tunes itself.

The best K depends on how often the draft agrees with the target, and that
changes from prompt to prompt and within one generation (boilerplate code vs
free prose). ``AdaptiveSpeculator`` watches the acceptance of recent rounds,
estimates the per-token acceptance rate alpha, and moves K toward the best
lookahead for that alpha - with the draft's and the verifier's costs when it
knows them, with a simple threshold rule when it does not.

A decoder uses it like this, once per round::

    k = speculator.lookahead                       # read K, draft k tokens
    ...verify, n of the k drafts accepted...
    speculator.update_lookahead(n / k, drafted=k)  # report; returns the next K
"""

from __future__ import annotations

import math
import numbers
from collections import deque

from specdec.theory import optimal_lookahead, speedup

#: Cost-aware mode: move only when the predicted speedup of the better K
#: beats the current one by more than this relative margin (hysteresis
#: against the noise of an estimate made from a few rounds).
GAIN_MARGIN = 0.05

#: Cost-free mode: raise K when the window's mean per-round acceptance rate is
#: at least RAISE_ABOVE, lower it when it is at most LOWER_BELOW.
RAISE_ABOVE = 0.8
LOWER_BELOW = 0.5


# Given to students (kept in the stub): the int-and-bound check of the constructor
# and update_lookahead.
def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


class AdaptiveSpeculator:
    """Chooses the lookahead K round by round from observed acceptance.

    State: the current K and, for the last ``window`` rounds, how many draft
    tokens were proposed and how many accepted.

    Estimating alpha: the per-round rate ``accepted / drafted`` is biased low
    (a round stops at its first rejection, so later drafts are never even
    tested). Each round is a run of Bernoulli(alpha) trials that stops at the
    first failure: ``n`` successes, then one failure if ``n < K``. Over the
    window the likelihood is ``alpha^A (1 - alpha)^R`` with ``A`` the accepted
    tokens and ``R`` the rounds that ended in a rejection, so the maximum
    likelihood estimate is ``alpha_hat = A / (A + R)``.

    Deciding K (only once the window is full, and always within
    ``[min_lookahead, max_lookahead]``):

    * cost-aware (``draft_cost`` given): the target is
      ``optimal_lookahead(alpha_hat, draft_cost, verify_cost)``. K moves one
      step toward it, and only if the target's predicted speedup beats the
      current K's by more than ``GAIN_MARGIN``. Near the optimum the speedup
      curve is flat, so noise in alpha_hat rarely moves K, and one step at a
      time keeps a noisy estimate from throwing K far away.
    * cost-free: one step up when the window's mean per-round acceptance
      rate is at least ``RAISE_ABOVE``, one step down when it is at most
      ``LOWER_BELOW``, otherwise stay.

    With ``min_lookahead = 0`` K may reach 0 (stop speculating). Rounds at
    K = 0 carry no evidence; report them with ``update_lookahead(0.0,
    drafted=0)`` and after ``window`` of them K returns to 1 for a probe.
    """

    def __init__(
        self,
        initial_lookahead: int = 4,
        *,
        min_lookahead: int = 1,
        max_lookahead: int = 16,
        window: int = 8,
        draft_cost: float | None = None,
        verify_cost: float | None = None,
    ):
        """Check the configuration.

        Args:
            initial_lookahead: K for the first rounds, in
                ``[min_lookahead, max_lookahead]``.
            min_lookahead: smallest K, an int ``>= 0`` (0 allows switching
                speculation off).
            max_lookahead: largest K, an int ``>= max(1, min_lookahead)``.
            window: number of recent rounds the estimate uses, an int ``>= 1``.
            draft_cost: ``c``, the cost of a draft step relative to a target
                step (``>= 0``), or ``None`` for the cost-free rule.
            verify_cost: ``v``, the relative cost of a verification pass
                (``> 0``; ``None`` means 1). Needs ``draft_cost``.

        Raises:
            TypeError: if a lookahead bound or ``window`` is not an int, or a
                cost is not a number.
            ValueError: for bounds out of order, an initial K outside them,
                ``window < 1``, a negative or non-finite cost, or
                ``verify_cost`` without ``draft_cost``.
        """
        # TODO(W2D3): check the configuration.
        #   1. Check the bounds with _check_int: 0 <= min <= initial <= max, max >= 1,
        #      window >= 1.
        #   2. Check the costs: numbers, finite, draft_cost >= 0, verify_cost > 0 and
        #      verify_cost only together with draft_cost.
        #   3. Store K, c and v (v = 1 when not given), a window of the last `window`
        #      (accepted, drafted) pairs, and a counter of idle rounds.
        raise NotImplementedError(
            "Week 2 Day 3 task `AdaptiveSpeculator.__init__` is not written yet: "
            "see book chapter week2-03-adaptive"
        )

    @property
    def lookahead(self) -> int:
        """The K to draft in the next round (an int in ``[min_lookahead, max_lookahead]``)."""
        # TODO(W2D3): the K to draft next.
        #   1. Return the current K.
        raise NotImplementedError(
            "Week 2 Day 3 task `AdaptiveSpeculator.lookahead` is not written yet: "
            "see book chapter week2-03-adaptive"
        )

    @property
    def estimated_alpha(self) -> float | None:
        """The current estimate of the per-token acceptance rate alpha.

        Returns:
            A float in ``[0, 1]`` computed from the rounds in the window so
            that it is not biased by rounds stopping at their first rejection
            (``A / (A + R)``: accepted tokens over accepted tokens plus rounds
            that ended in a rejection); ``None`` before any round with
            ``drafted >= 1`` was reported.
        """
        # TODO(W2D3): alpha_hat over the window.
        #   1. A = accepted tokens in the window; R = its rounds that ended in a rejection.
        #   2. None while A + R == 0, else A / (A + R).
        raise NotImplementedError(
            "Week 2 Day 3 task `AdaptiveSpeculator.estimated_alpha` is not written yet: "
            "see book chapter week2-03-adaptive"
        )

    def update_lookahead(self, acceptance_rate: float, *, drafted: int | None = None) -> int:
        """Record one round and choose the K for the next one.

        Args:
            acceptance_rate: ``accepted / drafted`` for the round just
                verified, a float in ``[0, 1]``.
            drafted: how many tokens the round drafted (``>= 0``); ``None``
                means the current ``lookahead``. With ``drafted = 0`` the
                rate is ignored and the round only counts toward a probe
                (see the class docstring).

        Returns:
            The new ``lookahead``.

        Raises:
            TypeError: if the rate is not a number or ``drafted`` not an int.
            ValueError: if the rate is NaN or outside ``[0, 1]``, ``drafted``
                is negative, or ``drafted`` is given and the rate is not a
                multiple of ``1 / drafted``.
        """
        # TODO(W2D3): record a round, choose K.
        #   1. Validate the rate (a real number in [0, 1]) and drafted (an int >= 0; None
        #      means the current K).
        #   2. drafted == 0: an idle round; after `window` of them at K = 0, probe
        #      K = max(1, min_lookahead).
        #   3. Turn the rate back into an accepted count; refuse a rate that is not a
        #      multiple of 1 / drafted.
        #   4. Record (accepted, drafted). Once the window is full: with draft_cost, move one
        #      step toward optimal_lookahead(alpha_hat, c, v) if that wins by GAIN_MARGIN;
        #      without, the threshold rule (RAISE_ABOVE / LOWER_BELOW). Keep K in bounds.
        #   5. Return the new K.
        raise NotImplementedError(
            "Week 2 Day 3 task `AdaptiveSpeculator.update_lookahead` is not written yet: "
            "see book chapter week2-03-adaptive"
        )
