"""Reference lookahead policies to compare an ``AdaptiveSpeculator`` against.

These are course machinery, not tasks: the tests and the benchmark use them
as yardsticks. They follow the same interface as
``specdec.adaptive.AdaptiveSpeculator``: a ``lookahead`` property and
``update_lookahead(acceptance_rate, *, drafted=None) -> int``.
"""

from __future__ import annotations

import math


class HeuristicSpeculator:
    """The "+2 on full acceptance, -1 otherwise" rule of Hugging Face transformers.

    ``transformers``' assisted generation (``num_assistant_tokens_schedule =
    "heuristic"``) grows the number of draft tokens by 2 after a round in
    which every draft token was accepted and shrinks it by 1 after any
    rejection. It reacts at once and needs no costs, but it never settles:
    K keeps drifting to where full acceptance happens about one round in
    three (``alpha^K ~ 1/3``), whatever the draft costs.

    Args:
        initial_lookahead: the first K.
        min_lookahead: smallest K (>= 1; HF uses 1).
        max_lookahead: largest K (HF has no cap; a cap keeps the comparison fair).
        up: step after full acceptance.
        down: step after a rejection.
    """

    def __init__(self, initial_lookahead: int = 4, *, min_lookahead: int = 1, max_lookahead: int = 16,
                 up: int = 2, down: int = 1):
        for name, value in (("initial_lookahead", initial_lookahead), ("min_lookahead", min_lookahead),
                            ("max_lookahead", max_lookahead), ("up", up), ("down", down)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}")
        if not 1 <= min_lookahead <= initial_lookahead <= max_lookahead:
            raise ValueError("need 1 <= min_lookahead <= initial_lookahead <= max_lookahead, got "
                             f"{min_lookahead}, {initial_lookahead}, {max_lookahead}")
        if up < 0 or down < 0:
            raise ValueError("up and down must be >= 0")
        self._k = initial_lookahead
        self._min, self._max = min_lookahead, max_lookahead
        self._up, self._down = up, down

    @property
    def lookahead(self) -> int:
        """The K to draft in the next round."""
        return self._k

    def update_lookahead(self, acceptance_rate: float, *, drafted: int | None = None) -> int:
        """Record a round (``accepted / drafted``) and return the next K.

        ``drafted = 0`` (nothing was drafted) leaves K unchanged.
        """
        rate = float(acceptance_rate)
        if not 0.0 <= rate <= 1.0 or math.isnan(rate):
            raise ValueError(f"acceptance_rate must be in [0, 1], got {acceptance_rate!r}")
        if drafted == 0:
            return self._k
        if rate >= 1.0:
            self._k = min(self._max, self._k + self._up)
        else:
            self._k = max(self._min, self._k - self._down)
        return self._k
