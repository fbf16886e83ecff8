"""Week 5 Day 1: how far each row of a batch should speculate.

A batch mixes rows the draft predicts well (boilerplate, copying) with rows it
predicts badly (free prose). Week 3 drafted the same K for all of them. Here
every row keeps its own acceptance history, and each round the batch's K is
chosen with the Week 2 cost model measured *for this batch size*: a round of
lookahead K costs ``K * draft(B) + verify(B, K)`` (``verify(B, 0)`` is a plain
decoding step) and row ``b`` expects ``E(alpha_b, K_b)`` tokens from it, where
``K_b = min(K, remaining_b - 1)`` is what its budget lets it verify. The
round's K maximises predicted tokens per unit of cost::

    K* = argmax_K  sum_b E(alpha_b, min(K, r_b - 1)) / (K * draft(B) + verify(B, K))

K* = 0 means no row pays for drafting at this batch size: the round is plain
batched decoding and the draft model is not called at all.

Why not a separate K per row? In a dense ``(B, K + 1)`` verification pass a
row's drafts cost the same whether it counts them or not - the padding is
computed anyway - so once the round has drafted K tokens, verifying fewer of
them can only lose tokens. Each row's own alpha still matters: it is what
decides K*. (An engine that packs rows without padding, like vLLM's, pays per
verified token; there a per-row K_b < K saves work.)

Both policies here share one interface, so the batched loop and the serving
engine take either: ``add_row``, ``remove_row``, ``observe`` after each round
and ``plan`` before it.
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Sequence

from specdec.theory import expected_tokens_per_round
from specdec_course.api.serving import BatchCosts
from specdec_course.api.validation import check_count


def _check_remaining(row_ids: Sequence[int], remaining: Sequence[int]) -> list[int]:
    left = [int(r) for r in remaining]
    if len(left) != len(row_ids):
        raise ValueError(f"plan: {len(row_ids)} rows but {len(left)} remaining budgets")
    if left and min(left) < 1:
        raise ValueError(
            f"plan: every live row needs a remaining budget >= 1, got {left}: a finished row "
            "(EOS or budget reached) is still in the batch - retire finished rows first"
        )
    return left


class FixedLookahead:
    """Week 3's rule: every round drafts ``K = min(lookahead, largest remaining - 1)``.

    Args:
        lookahead: K >= 0 (0 = plain batched decoding).
    """

    def __init__(self, lookahead: int = 4):
        self.lookahead = check_count(lookahead, "lookahead (K)")

    def add_row(self, row_id: int) -> None:
        """A row joined the batch (a fixed K keeps no per-row state)."""

    def remove_row(self, row_id: int) -> None:
        """A row left the batch."""

    def observe(self, row_id: int, drafted: int, accepted: int) -> None:
        """A round's result for a row (a fixed K ignores it)."""

    def plan(self, row_ids: Sequence[int], remaining: Sequence[int]) -> tuple[int, list[int]]:
        """``(K, counts)``: the round's lookahead and each row's verified drafts.

        Args:
            row_ids: the live rows, in batch order.
            remaining: each row's tokens still allowed (>= 1).

        Returns:
            ``K = min(lookahead, max(remaining) - 1)`` and ``counts[b] = min(K, remaining[b] - 1)``.
        """
        left = _check_remaining(row_ids, remaining)
        if not left:
            return 0, []
        k = max(0, min(self.lookahead, max(left) - 1))
        return k, [min(k, r - 1) for r in left]


class RowLookahead:
    """Per-row acceptance estimates; each round's K from the measured cost of this batch size.

    Estimating ``alpha_b`` (as Week 2's ``AdaptiveSpeculator``, per row): over the row's
    last ``window`` rounds, ``A`` accepted drafts and ``R`` rounds that ended in a
    rejection (accepted < drafted) give the likelihood ``alpha^A (1 - alpha)^R``. A new
    row has no rounds yet, so a prior of ``w = prior_weight`` pseudo-trials at ``a0`` is
    added::

        alpha_hat = (A + w * a0) / (A + R + w)

    ``a0`` is what the server has learned from the rows that already left: their ``A``
    and ``R`` are pooled when they are removed, and ``a0 = (A_pool + w * prior_alpha) /
    (A_pool + R_pool + w)`` (just ``prior_alpha`` before any row has left). A short
    request then starts from the pair's typical acceptance instead of a guess.

    Choosing K: the argmax in the module docstring over ``K = 0 .. min(k_max,
    costs.k_max, max(remaining) - 1)``; exact ties (within a relative 1e-12) go to
    the smaller K. Rounds at K = 0 carry no evidence, so after ``window`` of them in a
    row the next round probes with K = 1 (if any row has the budget).

    Args:
        costs: the measured (or given) :class:`BatchCosts` of the model pair.
        k_max: the largest K the policy may choose, >= 1.
        prior_alpha: the acceptance assumed for a row with no history, in [0, 1].
        prior_weight: how many trials that prior counts for, >= 0.
        window: rounds of history per row, >= 1.
    """

    def __init__(
        self,
        costs: BatchCosts,
        *,
        k_max: int = 8,
        prior_alpha: float = 0.5,
        prior_weight: float = 2.0,
        window: int = 16,
    ):
        # TODO(W5D1): check and store the configuration.
        #   1. costs must be a BatchCosts (TypeError naming the class otherwise).
        #   2. k_max and window are ints >= 1 (check_count with low=1); prior_alpha a number
        #      in [0, 1], prior_weight a number >= 0 (ValueError naming the argument).
        #   3. Keep a dict row id -> deque(maxlen=window) of (drafted, accepted) pairs, the
        #      pooled accepted drafts and rejections of removed rows (0 and 0), and a counter
        #      of consecutive K = 0 rounds.
        # BEGIN SOLUTION
        if not isinstance(costs, BatchCosts):
            raise TypeError(
                "costs must be a BatchCosts (specdec_course.api.serving), "
                f"got {type(costs).__name__}"
            )
        self.costs = costs
        self.k_max = check_count(k_max, "k_max", low=1)
        self.window = check_count(window, "window", low=1)
        for name, value, high in (
            ("prior_alpha", prior_alpha, 1.0),
            ("prior_weight", prior_weight, math.inf),
        ):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
            if not 0 <= value <= high or math.isnan(value):
                raise ValueError(f"{name} must be in [0, {high}], got {value!r}")
        self.prior_alpha = float(prior_alpha)
        self.prior_weight = float(prior_weight)
        self._history: dict[int, deque[tuple[int, int]]] = {}
        self._pool = [0, 0]  # accepted drafts, rejecting rounds of the rows that left
        self._idle = 0
        # END SOLUTION

    def add_row(self, row_id: int) -> None:
        """Start (or restart) a row with an empty history."""
        # TODO(W5D1): start the row's history.
        #   1. An empty deque(maxlen=window) for the row (replacing any old one).
        # BEGIN SOLUTION
        self._history[row_id] = deque(maxlen=self.window)
        # END SOLUTION

    def remove_row(self, row_id: int) -> None:
        """Forget a row that left the batch, pooling its evidence (unknown ids are ignored)."""
        # TODO(W5D1): forget the row.
        #   1. Drop its history if there is one (pop with a default).
        #   2. Add its accepted drafts and rejecting rounds to the pool.
        # BEGIN SOLUTION
        rounds = self._history.pop(row_id, None) or ()
        self._pool[0] += sum(a for _, a in rounds)
        self._pool[1] += sum(1 for d, a in rounds if a < d)
        # END SOLUTION

    def pooled_alpha(self) -> float:
        """``a0``: the prior of a new row, from the rows that left (``prior_alpha`` before)."""
        # TODO(W5D1): the pool's smoothed estimate.
        #   1. (A_pool + w * prior_alpha) / (A_pool + R_pool + w); prior_alpha when that is 0/0.
        # BEGIN SOLUTION
        trials = self._pool[0] + self._pool[1] + self.prior_weight
        if trials == 0:
            return self.prior_alpha
        return (self._pool[0] + self.prior_weight * self.prior_alpha) / trials
        # END SOLUTION

    def observe(self, row_id: int, drafted: int, accepted: int) -> None:
        """Record one round of a row: ``drafted`` drafts verified, ``accepted`` of them kept.

        Raises:
            KeyError: for a row that was never added.
            ValueError: unless ``0 <= accepted <= drafted``.
        """
        # TODO(W5D1): append (drafted, accepted) to the row's history.
        #   1. Unknown row: KeyError naming add_row. Bad counts: ValueError.
        #   2. A round with drafted == 0 is no evidence: do not record it.
        # BEGIN SOLUTION
        if row_id not in self._history:
            raise KeyError(f"row {row_id} was never added: call add_row({row_id}) when it joins")
        drafted, accepted = int(drafted), int(accepted)
        if not 0 <= accepted <= drafted:
            raise ValueError(f"observe needs 0 <= accepted <= drafted, got {accepted} of {drafted}")
        if drafted:
            self._history[row_id].append((drafted, accepted))
        # END SOLUTION

    def alpha(self, row_id: int) -> float:
        """The row's ``alpha_hat`` (the prior alone for a row without rounds).

        Raises:
            KeyError: for a row that was never added.
        """
        # TODO(W5D1): the smoothed maximum-likelihood estimate of the class docstring.
        #   1. A = accepted drafts over the window; R = rounds with accepted < drafted.
        #   2. a0 = pooled_alpha(); (A + w * a0) / (A + R + w); with no evidence and w == 0
        #      return a0.
        # BEGIN SOLUTION
        if row_id not in self._history:
            raise KeyError(f"row {row_id} was never added: call add_row({row_id}) when it joins")
        rounds = self._history[row_id]
        accepted = sum(a for _, a in rounds)
        rejected = sum(1 for d, a in rounds if a < d)
        prior = self.pooled_alpha()
        trials = accepted + rejected + self.prior_weight
        if trials == 0:
            return prior
        return (accepted + self.prior_weight * prior) / trials
        # END SOLUTION

    def plan(self, row_ids: Sequence[int], remaining: Sequence[int]) -> tuple[int, list[int]]:
        """``(K, counts)`` for the next round of the live rows ``row_ids``.

        Args:
            row_ids: the live rows, in batch order (each added).
            remaining: each row's tokens still allowed (>= 1).

        Returns:
            The round's K (0 = no drafting) and ``counts[b] = min(K, remaining[b] - 1)``.
        """
        # TODO(W5D1): the K with the most predicted tokens per unit of cost.
        #   1. Check the budgets (_check_remaining); no rows -> (0, []).
        #   2. cap = min(k_max, costs.k_max, max(remaining) - 1); cap <= 0 -> K = 0.
        #   3. For K = 0 .. cap: tokens = sum over rows of expected_tokens_per_round(alpha_b,
        #      min(K, r_b - 1)); cost = K * costs.draft(B) + costs.verify_pass(B, K).
        #      Keep a K only if it beats the best by a relative 1e-12 (ties -> smaller K).
        #   4. After `window` consecutive K = 0 rounds, probe with K = 1 (when cap >= 1).
        #   5. counts[b] = min(K, r_b - 1).
        # BEGIN SOLUTION
        left = _check_remaining(row_ids, remaining)
        if not left:
            return 0, []
        rows = len(left)
        alphas = [self.alpha(r) for r in row_ids]
        cap = min(self.k_max, self.costs.k_max, max(left) - 1)
        best_k, best = 0, -1.0
        for k in range(max(cap, 0) + 1):
            tokens = sum(
                expected_tokens_per_round(a, min(k, r - 1))
                for a, r in zip(alphas, left, strict=True)
            )
            cost = k * self.costs.draft(rows) + self.costs.verify_pass(rows, k)
            if tokens / cost > best * (1 + 1e-12):
                best_k, best = k, tokens / cost
        if best_k == 0 and cap >= 1:
            self._idle += 1
            if self._idle > self.window:
                best_k, self._idle = 1, 0  # no evidence comes from K = 0: look again
        else:
            self._idle = 0
        return best_k, [min(best_k, r - 1) for r in left]
        # END SOLUTION
