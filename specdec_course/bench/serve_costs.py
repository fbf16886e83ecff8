"""The serving bench's cost table: a batched draft step and a round's other costs, per batch size.

:func:`measure_batch_costs` fills :class:`specdec_course.api.serving.BatchCosts` with medians
of wall-clock seconds on the bench's own models, the table the per-row lookahead policy of
Week 5 Day 1 reads to choose each round's K. A draft step is one ``(b, 2)`` draft call on a
cache prefilled with ``context`` tokens per row (the Week 3 Day 1 ``batched_prefill``) and
undone with ``rewind_rows``. A verification entry is a whole Week 5 Day 1
``speculative_round`` at that K, timed on rows admitted with ``start_rows``, minus its K draft
steps: it then holds everything a round costs besides drafting (the verify pass, sampling,
the device read, the rewinds), and ``K * draft + verify`` is what a round really takes.

May import: ``core``, ``api`` (and the student package ``specdec``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import mlx.core as mx

from specdec_course.api.batching import rewind_rows
from specdec_course.api.serving import BatchCosts
from specdec_course.api.validation import vocab_size

#: Tokens the round's first draft step feeds per row (the last context token, and the bonus
#: token after a fully accepted round): the draft step the table prices.
DRAFT_STEP_WIDTH = 2


def _rows(b: int, context: int, vocab: int) -> list[list[int]]:
    """``b`` rows of ``context`` deterministic token ids (what they are does not change a cost)."""
    return [[1 + (7 * r + 31 * i) % (vocab - 1) for i in range(context)] for r in range(b)]


def _timer(model: Any, cache: list[Any], b: int, vocab: int) -> Callable[[int], float]:
    """``time(width)``: seconds of one ``(b, width)`` call on ``cache``, then undone."""

    def time_one(width: int) -> float:
        x = mx.array([[1 + (3 * r + 5 * j) % (vocab - 1) for j in range(width)] for r in range(b)])
        start = time.perf_counter()
        mx.eval(model(x, cache=cache))
        seconds = time.perf_counter() - start
        rewind_rows(cache, [width] * b)
        return seconds

    return time_one


def measure_batch_costs(
    draft: Any,
    target: Any,
    *,
    max_rows: int,
    k_max: int,
    context: int = 64,
    repeats: int = 5,
) -> BatchCosts:
    """Median seconds of a batched draft step and of each verification pass, per live rows.

    For every ``b = 1 .. max_rows``: ``b`` rows of ``context`` tokens are prefilled in the
    draft (``batched_prefill``) and admitted to both models (``start_rows``); then, after one
    untimed warm-up of each, ``repeats`` interleaved repeats time one draft call over
    ``(b, 2)`` tokens (what the round's first draft step feeds; undone with ``rewind_rows``)
    and one greedy ``speculative_round`` at every ``k = 0 .. k_max`` (its rows grow by the
    tokens it emits, as in serving). ``verify[b][k]`` is the round's median minus ``k``
    draft steps.

    Args:
        draft, target: mlx-lm models sharing a vocabulary.
        max_rows: the largest batch (``>= 1``): the engine's slot count.
        k_max: the largest lookahead the table covers (``>= 0``).
        context: tokens already in every row's cache (``>= 1``).
        repeats: timed calls per entry (``>= 1``); the entry is their median.

    Returns:
        ``BatchCosts(draft_step, verify)`` in seconds: ``draft_step[b]`` and ``verify[b][k]``
        (index 0 unused: 0.0).

    Raises:
        ValueError: for a bad count.
        NotImplementedError: from an unwritten ``specdec.ragged.batched_prefill`` (W3D1).
    """
    for name, value, low in (
        ("max_rows", max_rows, 1),
        ("k_max", k_max, 0),
        ("context", context, 1),
        ("repeats", repeats, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"measure_batch_costs: {name} must be an int >= {low}, got {value!r}")
    from specdec.ragged import batched_prefill
    from specdec.rowspec import speculative_round, start_rows

    vocab = max(2, min(vocab_size(draft) or 2**15, vocab_size(target) or 2**15))
    draft_step = [0.0]
    verify = [[0.0] * (k_max + 1)]
    for b in range(1, max_rows + 1):
        rows = _rows(b, context, vocab)
        cache, logits = batched_prefill(draft, rows)
        mx.eval(logits)
        time_draft = _timer(draft, cache, b, vocab)
        batch, _ = start_rows(draft, target, rows, list(range(b)), [None] * b)

        def time_round(k: int, batch: Any = batch, b: int = b) -> float:
            start = time.perf_counter()
            speculative_round(draft, target, batch, k, [k] * b)
            return time.perf_counter() - start

        time_draft(DRAFT_STEP_WIDTH)  # warm-up: kernels and buffers for these shapes
        for k in range(k_max + 1):
            time_round(k)
        drafts: list[float] = []
        rounds: list[list[float]] = [[] for _ in range(k_max + 1)]
        for _ in range(repeats):
            drafts.append(time_draft(DRAFT_STEP_WIDTH))
            for k in range(k_max + 1):
                rounds[k].append(time_round(k))
        step = statistics.median(drafts)
        draft_step.append(step)
        # A whole round (draft steps, the verify pass, sampling, the device read, the rewinds)
        # minus its k draft steps: the policy's k * draft + verify is then the round's time.
        verify.append([max(statistics.median(r) - k * step, 1e-6) for k, r in enumerate(rounds)])
    return BatchCosts(
        draft_step,
        verify,
        note=f"measured: medians of {repeats} rounds on {context}-token contexts, seconds",
    )


class OnlineCosts:
    """A speculative engine whose policy's cost table learns from the engine's own rounds.

    The offline table (:func:`measure_batch_costs`) is measured on short synthetic rows; in
    serving, caches are longer and hold holes, and a shared machine drifts. So after every
    step that ran a round, the entry the policy used, ``verify[B][K]``, moves a share
    ``weight`` of the way to what the step really took minus its ``K`` draft steps. An entry
    the policy rates too cheap is corrected the first time it is chosen; one it never
    chooses keeps its offline value.

    Args:
        engine: a ``specdec.serving.SpeculativeEngine`` built with ``policy``.
        policy: its ``RowLookahead``; its ``costs`` table is updated in place.
        weight: the exponential moving average's step, in (0, 1].
    """

    def __init__(self, engine: Any, policy: Any, *, weight: float = 0.25) -> None:
        self.engine, self.policy, self.weight = engine, policy, weight
        self._plans: list[tuple[int, int]] = []
        plan = policy.plan

        def recording_plan(row_ids: Any, remaining: Any) -> tuple[int, list[int]]:
            k, counts = plan(row_ids, remaining)
            self._plans.append((len(row_ids), k))
            return k, counts

        policy.plan = recording_plan

    def submit(self, prompt: list[int], max_tokens: int = 100) -> int:
        """Queue a request (the engine's ``submit``)."""
        return self.engine.submit(prompt, max_tokens)

    def has_work(self) -> bool:
        """The engine's ``has_work``."""
        return self.engine.has_work()

    def step(self) -> list[Any]:
        """One engine step, timed; a round's time refines the entry its plan used."""
        self._plans.clear()
        start = time.perf_counter()
        out = self.engine.step()
        seconds = time.perf_counter() - start
        if len(self._plans) == 1:
            rows, k = self._plans[0]
            costs = self.policy.costs
            entry = costs.verify[min(rows, costs.max_rows)]
            entry[k] += self.weight * (max(seconds - k * costs.draft(rows), 1e-6) - entry[k])
        return out


def online_adaptive(draft: Any, target: Any, *, slots: int, costs: BatchCosts, k_max: int) -> Any:
    """``per-row adaptive``: ``RowLookahead`` on a private copy of ``costs``, refined online."""
    from specdec.rowpolicy import RowLookahead
    from specdec.serving import SpeculativeEngine

    table = BatchCosts(
        list(costs.draft_step), [list(v) for v in costs.verify], note=f"{costs.note}; online"
    )
    policy = RowLookahead(table, k_max=k_max)
    return OnlineCosts(SpeculativeEngine(draft, target, slots=slots, lookahead=policy), policy)
