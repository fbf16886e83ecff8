# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 5 Day 2: continuous batching with speculation.

A server does not get its requests as one batch: they arrive while others are
being decoded, and they finish at different times. Week 3's loop lets a batch
shrink as rows finish; a continuous-batching engine also lets it grow. It has a
fixed number of slots (rows decoded together); every :meth:`~SpeculativeEngine.step`
either admits waiting requests into free slots (one batched prefill, which also
gives each newcomer its first token, then joining both models' caches) or runs
one speculative round for the live rows and retires the rows that finished.

Whoever shares the batch, every request's output equals its single-sequence
decode: the rows never see each other (per-row masks and positions), each row
rewinds by its own count, and each row draws its randomness from its own key.

mlx-lm's ``BatchGenerator`` is the same idea without a draft model; the serving
bench (Week 5 Day 3) compares the two.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn

from specdec.rowpolicy import FixedLookahead, RowLookahead
from specdec.rowspec import (
    RowBatch,
    as_policy,
    join_batches,
    keep_rows,
    settle_row,
    speculative_round,
    start_rows,
)
from specdec_course.api.batching import check_batchable
from specdec_course.api.results import GenerationResult
from specdec_course.api.serving import Emitted
from specdec_course.api.validation import (
    check_count,
    check_same_vocab,
    check_temperature,
    eos_ids,
    token_list,
)


@dataclass
class Request:
    """One submitted request (given).

    Attributes:
        prompt: its token ids.
        max_tokens: its budget.
        key: its PRNG key (None: MLX's global random state).
        result: what it has produced so far.
        state: ``"waiting"``, ``"live"`` or ``"finished"``.
        cancelled: set by :meth:`SpeculativeEngine.cancel`.
    """

    prompt: list[int]
    max_tokens: int
    key: mx.array | None
    result: GenerationResult = field(default_factory=GenerationResult)
    state: str = "waiting"
    cancelled: bool = False


class SpeculativeEngine:
    """A fixed number of slots; requests join and leave between speculative rounds.

    Use::

        engine = SpeculativeEngine(draft, target, slots=8, lookahead=3)
        a = engine.submit(prompt_a, max_tokens=64)
        b = engine.submit(prompt_b, max_tokens=16)
        while engine.has_work():
            for event in engine.step():   # Emitted(request_id, tokens, finished, ...)
                ...
        engine.result(a).tokens

    Args:
        draft_model: the proposer, or None for plain continuous batching (then
            ``lookahead`` must be 0).
        target_model: the model whose output every request reproduces.
        slots: the most requests decoded together, >= 1.
        lookahead: an int K (fixed) or a policy (:class:`~specdec.rowpolicy.RowLookahead`).
        temperature: 0 = greedy, > 0 = sampling, for every request.
        eos_token_id: an id or ids that end a request (kept).

    Raises:
        TypeError, ValueError: for bad slots, lookahead, temperature, a missing draft
            model with K > 0, different vocabularies or caches that cannot be batched.
    """

    def __init__(
        self,
        draft_model: nn.Module | None,
        target_model: nn.Module,
        *,
        slots: int = 8,
        lookahead: int | FixedLookahead | RowLookahead = 4,
        temperature: float = 0.0,
        eos_token_id: int | Iterable[int] | None = None,
    ):
        # TODO(W5D2): check the configuration, then set up an empty engine.
        #   1. slots: check_count with low=1; lookahead through as_policy; check_temperature;
        #      eos_ids.
        #   2. Without a draft model only a FixedLookahead of 0 works: ValueError otherwise.
        #      With one: check_same_vocab and check_batchable("draft"); always
        #      check_batchable(target_model, "target").
        #   3. State: requests by id, a queue of waiting ids, the live RowBatch (None while
        #      empty) and the next request id.
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine.__init__` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    @property
    def live(self) -> int:
        """Requests in the batch now."""
        # TODO(W5D2): the batch's rows.
        #   1. 0 without a batch, else len(batch).
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine.live` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    @property
    def waiting(self) -> int:
        """Requests submitted and not yet admitted."""
        # TODO(W5D2): the queue's length.
        #   1. len of the queue of waiting ids.
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine.waiting` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    def has_work(self) -> bool:
        """True while a request is waiting or live."""
        # TODO(W5D2): anything queued or live.
        #   1. True if the queue is non-empty or a row is live.
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine.has_work` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    def submit(
        self, prompt: list[int] | mx.array, max_tokens: int = 100, *, key: mx.array | None = None
    ) -> int:
        """Queue a request; it is admitted at a later :meth:`step`.

        Args:
            prompt: a non-empty list of ids or 1-D int array.
            max_tokens: its budget, >= 0 (0: it finishes at the next step with no tokens
                and never takes a slot).
            key: its PRNG key: with a fixed lookahead a sampled request's tokens depend on
                its key alone, not on when it joined or whom it shared the batch with.

        Returns:
            The request id (0, 1, 2, ... in submission order).

        Raises:
            ValueError, TypeError: for an empty or malformed prompt or a bad budget, at once.
        """
        # TODO(W5D2): queue the request.
        #   1. token_list the prompt (an empty one raises here), check_count the budget.
        #   2. Store a Request under the next id, queue the id, return it.
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine.submit` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    def cancel(self, request_id: int) -> bool:
        """Stop a waiting or live request; it is reported finished (``"cancelled"``) at the next
        step. Returns False for an unknown or already finished request."""
        # TODO(W5D2): mark it; the next step removes it.
        #   1. False for an unknown, finished or already cancelled request.
        #   2. Otherwise set its `cancelled` flag and return True.
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine.cancel` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    def result(self, request_id: int) -> GenerationResult:
        """The request's record (complete once it finished).

        Raises:
            KeyError: for an id this engine never returned.
        """
        # TODO(W5D2): look the request up.
        #   1. An unknown id is a KeyError naming submit(); else its Request's result.
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine.result` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    def run(self) -> dict[int, GenerationResult]:
        """Step until nothing is waiting or live; every request's record by id."""
        # TODO(W5D2): drain the engine.
        #   1. step() while has_work(); then every request's result by id.
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine.run` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    def step(self) -> list[Emitted]:
        """Admit waiting requests into free slots if there are any, else run one round.

        Returns:
            One :class:`Emitted` per request that got tokens or finished in this step.
        """
        # TODO(W5D2): one step of the server.
        #   1. Cancelled requests: waiting ones leave the queue, live ones the batch
        #      (keep_rows; policy.remove_row); each reports Emitted(id, [], True, "cancelled").
        #   2. Waiting requests with max_tokens 0 finish at once (no slot, no model call).
        #   3. Free slots and a queue: admit up to `free` requests with start_rows (their
        #      first tokens: one target call each, one draft call if any prompt is longer
        #      than one token), settle_row, policy.add_row; join the unfinished ones to the
        #      batch (join_batches: a catch-up draft call counts for the old rows). Return.
        #   4. Otherwise, with live rows: policy.plan on the remaining budgets,
        #      speculative_round, count calls, record_round, policy.observe, settle_row.
        #   5. Retire finished rows (keep_rows; policy.remove_row); report every request's
        #      new tokens and whether it finished.
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine.step` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    # -- the parts of a step ---------------------------------------------------------

    def _left(self, rid: int) -> int:
        req = self.requests[rid]
        return req.max_tokens - len(req.result.tokens)

    def _emitted(self, rid: int, tokens: list[int], finished: bool) -> Emitted:
        req = self.requests[rid]
        if finished:
            req.state = "finished"
        return Emitted(rid, tokens, finished, req.result.finish_reason if finished else None)

    def _retire(self, done: list[bool]) -> None:
        """Drop the rows flagged done from the batch (and the policy)."""
        # TODO(W5D2): retire the finished rows.
        #   1. policy.remove_row for each done row.
        #   2. keep_rows the others; with none left the batch becomes None (MLX cannot hold a
        #      cache of zero rows).
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine._retire` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    def _drop_cancelled(self, events: list[Emitted]) -> None:
        """Finish every cancelled request: out of the queue, out of the batch."""
        # TODO(W5D2): remove the cancelled requests.
        #   1. Waiting ones leave the queue; live ones the batch (_retire with their flags).
        #   2. Report each once with _finish_cancelled.
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine._drop_cancelled` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )

    def _finish_cancelled(self, rid: int, events: list[Emitted]) -> None:
        req = self.requests[rid]
        req.state, req.result.finish_reason = "finished", "cancelled"
        events.append(Emitted(rid, [], True, "cancelled"))

    def _admit(self, free: int, events: list[Emitted]) -> None:
        """Prefill up to ``free`` waiting requests and join the unfinished ones to the batch."""
        # TODO(W5D2): admission.
        #   1. Pop up to `free` requests (step() has already finished the max_tokens=0 ones).
        #   2. start_rows on their prompts and keys: count one target call each, one draft
        #      call each if any prompt is longer than one token; policy.add_row; settle_row
        #      the first token and report it.
        #   3. Rows already done (budget 1, EOS) leave the policy and never join; the others
        #      become the batch or join it with join_batches (its catch-up call counts for
        #      the old rows).
        raise NotImplementedError(
            "Week 5 Day 2 task `SpeculativeEngine._admit` is not written yet: "
            "see book chapter week5-02-continuous-batching"
        )
