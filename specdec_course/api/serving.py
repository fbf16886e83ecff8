"""What a serving engine hands back, and the cost table the Week 5 policy reads.

Course machinery for Week 5 (students may import it). A serving engine runs
many requests in a fixed number of slots; every :meth:`step` runs one round
for the live rows and reports what each request got in that round as an
:class:`Emitted` record. The serving bench (``specdec bench --serve``) drives
the course's engines and mlx-lm's ``BatchGenerator`` through the same
:class:`ServingEngine` protocol, so their figures are comparable.

:class:`BatchCosts` is the Week 2 cost model measured per batch size: what one
batched draft step and one ``(B, K+1)`` verification pass cost when ``B`` rows
are live. The per-row lookahead policy (W5D1) reads it to choose each round's
K; tests give hand-made tables, the bench measures one.

May import: nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["BatchCosts", "Emitted", "ServingEngine"]


@dataclass(frozen=True)
class Emitted:
    """The tokens one request received in one engine step.

    Attributes:
        request_id: the id :meth:`ServingEngine.submit` returned.
        tokens: the new tokens, in order (empty only for a request that
            finished without new tokens: ``max_tokens=0`` or cancelled).
        finished: True when the request is done (nothing more will come).
        finish_reason: ``"eos"``, ``"length"`` or ``"cancelled"`` once
            finished, else None.
    """

    request_id: int
    tokens: list[int]
    finished: bool = False
    finish_reason: str | None = None


class ServingEngine(Protocol):
    """What the serving bench needs from an engine."""

    def submit(self, prompt: list[int], max_tokens: int = 100) -> int:
        """Queue one request; return its id."""
        ...

    def step(self) -> list[Emitted]:
        """Admit waiting requests if slots are free, run one round, report per request."""
        ...

    def has_work(self) -> bool:
        """True while a request is waiting or live."""
        ...


@dataclass(frozen=True)
class BatchCosts:
    """Measured (or given) costs of one round, per number of live rows.

    Costs are in any one unit (seconds, or relative to a 1-row target step):
    the policy only compares them with each other.

    Attributes:
        draft_step: ``draft_step[b]`` = one batched draft call with ``b`` live
            rows (index 0 unused, may be 0.0).
        verify: ``verify[b][k]`` = one target pass over ``(b, k + 1)`` tokens,
            ``k = 0 .. k_max``; ``verify[b][0]`` is a plain decoding step.
    """

    draft_step: Sequence[float]
    verify: Sequence[Sequence[float]]
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if len(self.draft_step) != len(self.verify) or len(self.verify) < 2:
            raise ValueError(
                "BatchCosts needs draft_step[b] and verify[b] for b = 0 .. max rows "
                f"(same length, at least 2), got {len(self.draft_step)} and {len(self.verify)}"
            )
        widths = {len(row) for row in self.verify[1:]}
        if len(widths) != 1 or min(widths) < 1:
            raise ValueError(
                "BatchCosts.verify[b] must list the costs of K = 0 .. k_max for every b >= 1 "
                f"(one common length), got lengths {sorted(widths)}"
            )
        for b in range(1, len(self.verify)):
            if self.draft_step[b] < 0 or min(self.verify[b]) <= 0:
                raise ValueError(
                    f"BatchCosts for {b} rows: draft_step must be >= 0 and every verify cost > 0, "
                    f"got draft_step={self.draft_step[b]}, verify={list(self.verify[b])}"
                )

    @property
    def max_rows(self) -> int:
        """The largest batch the table covers."""
        return len(self.verify) - 1

    @property
    def k_max(self) -> int:
        """The largest lookahead the table covers."""
        return len(self.verify[1]) - 1

    def draft(self, rows: int) -> float:
        """One batched draft step with ``rows`` live rows (clamped to the table)."""
        return float(self.draft_step[self._rows(rows)])

    def verify_pass(self, rows: int, k: int) -> float:
        """One ``(rows, k + 1)`` target pass (``rows`` clamped to the table).

        Raises:
            ValueError: for ``k`` outside ``0 .. k_max``.
        """
        if not 0 <= k <= self.k_max:
            raise ValueError(f"BatchCosts covers K = 0 .. {self.k_max}, got K = {k}")
        return float(self.verify[self._rows(rows)][k])

    def _rows(self, rows: int) -> int:
        if rows < 1:
            raise ValueError(f"a round needs at least one live row, got {rows}")
        return min(rows, self.max_rows)

    @classmethod
    def uniform(cls, draft_step: float, verify: Sequence[float], max_rows: int = 8) -> BatchCosts:
        """The same costs for every batch size (a hand-made table for tests and examples)."""
        return cls([0.0] + [draft_step] * max_rows, [[1.0]] + [list(verify)] * max_rows)
