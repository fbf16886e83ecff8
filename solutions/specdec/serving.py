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
        # BEGIN SOLUTION
        self.slots = check_count(slots, "slots", low=1)
        self.policy = as_policy(lookahead)
        self.temperature = check_temperature(temperature)
        self.stop = eos_ids(eos_token_id)
        if draft_model is None:
            if not (isinstance(self.policy, FixedLookahead) and self.policy.lookahead == 0):
                raise ValueError(
                    "no draft model: pass one, or lookahead=0 for plain continuous batching"
                )
        else:
            check_same_vocab(draft_model, target_model)
            check_batchable(draft_model, "draft")
        check_batchable(target_model, "target")
        self.draft_model, self.target_model = draft_model, target_model
        self.requests: dict[int, Request] = {}
        self._queue: deque[int] = deque()
        self._batch: RowBatch | None = None
        self._next_id = 0
        # END SOLUTION

    @property
    def live(self) -> int:
        """Requests in the batch now."""
        # TODO(W5D2): the batch's rows.
        #   1. 0 without a batch, else len(batch).
        # BEGIN SOLUTION
        return 0 if self._batch is None else len(self._batch)
        # END SOLUTION

    @property
    def waiting(self) -> int:
        """Requests submitted and not yet admitted."""
        # TODO(W5D2): the queue's length.
        #   1. len of the queue of waiting ids.
        # BEGIN SOLUTION
        return len(self._queue)
        # END SOLUTION

    def has_work(self) -> bool:
        """True while a request is waiting or live."""
        # TODO(W5D2): anything queued or live.
        #   1. True if the queue is non-empty or a row is live.
        # BEGIN SOLUTION
        return bool(self._queue) or self.live > 0
        # END SOLUTION

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
        # BEGIN SOLUTION
        tokens = token_list(prompt, what="prompt")
        budget = check_count(max_tokens, "max_tokens")
        rid = self._next_id
        self._next_id += 1
        self.requests[rid] = Request(tokens, budget, key)
        self._queue.append(rid)
        return rid
        # END SOLUTION

    def cancel(self, request_id: int) -> bool:
        """Stop a waiting or live request; it is reported finished (``"cancelled"``) at the next
        step. Returns False for an unknown or already finished request."""
        # TODO(W5D2): mark it; the next step removes it.
        #   1. False for an unknown, finished or already cancelled request.
        #   2. Otherwise set its `cancelled` flag and return True.
        # BEGIN SOLUTION
        req = self.requests.get(request_id)
        if req is None or req.state == "finished" or req.cancelled:
            return False
        req.cancelled = True
        return True
        # END SOLUTION

    def result(self, request_id: int) -> GenerationResult:
        """The request's record (complete once it finished).

        Raises:
            KeyError: for an id this engine never returned.
        """
        # TODO(W5D2): look the request up.
        #   1. An unknown id is a KeyError naming submit(); else its Request's result.
        # BEGIN SOLUTION
        if request_id not in self.requests:
            raise KeyError(f"no request {request_id}: ids come from submit()")
        return self.requests[request_id].result
        # END SOLUTION

    def run(self) -> dict[int, GenerationResult]:
        """Step until nothing is waiting or live; every request's record by id."""
        # TODO(W5D2): drain the engine.
        #   1. step() while has_work(); then every request's result by id.
        # BEGIN SOLUTION
        while self.has_work():
            self.step()
        return {rid: req.result for rid, req in self.requests.items()}
        # END SOLUTION

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
        # BEGIN SOLUTION
        events: list[Emitted] = []
        self._drop_cancelled(events)
        for rid in [r for r in self._queue if self.requests[r].max_tokens == 0]:
            self._queue.remove(rid)
            self.requests[rid].state = "finished"
            events.append(Emitted(rid, [], True, "length"))
        free = self.slots - self.live
        if self._queue and free > 0:
            self._admit(free, events)
            return events
        if self._batch is None:
            return events
        batch = self._batch
        remaining = [self._left(rid) for rid in batch.row_ids]
        k, counts = self.policy.plan(batch.row_ids, remaining)
        outcomes = speculative_round(
            self.draft_model, self.target_model, batch, k, counts, temperature=self.temperature
        )
        done = []
        for rid, outcome in zip(batch.row_ids, outcomes, strict=True):
            res = self.requests[rid].result
            before = len(res.tokens)
            res.target_calls += 1
            res.draft_calls += k
            res.record_round(outcome.drafted, outcome.accepted)
            self.policy.observe(rid, outcome.drafted, outcome.accepted)
            finished = settle_row(res, outcome.tokens, self.requests[rid].max_tokens, self.stop)
            done.append(finished)
            events.append(self._emitted(rid, res.tokens[before:], finished))
        self._retire(done)
        return events
        # END SOLUTION

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
        # BEGIN SOLUTION
        batch = self._batch
        for rid, d in zip(batch.row_ids, done, strict=True):
            if d:
                self.policy.remove_row(rid)
        keep = [i for i, d in enumerate(done) if not d]
        if not keep:
            self._batch = None
        else:
            keep_rows(batch, keep)
        # END SOLUTION

    def _drop_cancelled(self, events: list[Emitted]) -> None:
        """Finish every cancelled request: out of the queue, out of the batch."""
        # TODO(W5D2): remove the cancelled requests.
        #   1. Waiting ones leave the queue; live ones the batch (_retire with their flags).
        #   2. Report each once with _finish_cancelled.
        # BEGIN SOLUTION
        for rid in [r for r in self._queue if self.requests[r].cancelled]:
            self._queue.remove(rid)
            self._finish_cancelled(rid, events)
        if self._batch is not None:
            flags = [self.requests[rid].cancelled for rid in self._batch.row_ids]
            if any(flags):
                for rid, flag in zip(self._batch.row_ids, flags, strict=True):
                    if flag:
                        self._finish_cancelled(rid, events)
                self._retire(flags)
        # END SOLUTION

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
        # BEGIN SOLUTION
        ids = [self._queue.popleft() for _ in range(min(free, len(self._queue)))]
        prompts = [self.requests[rid].prompt for rid in ids]
        newcomers, first = start_rows(
            self.draft_model,
            self.target_model,
            prompts,
            ids,
            [self.requests[rid].key for rid in ids],
            temperature=self.temperature,
        )
        drafted = self.draft_model is not None and any(len(p) > 1 for p in prompts)
        done = []
        for rid, token in zip(ids, first, strict=True):
            req = self.requests[rid]
            req.state = "live"
            req.result.target_calls += 1
            req.result.draft_calls += int(drafted)
            self.policy.add_row(rid)
            finished = settle_row(req.result, [token], req.max_tokens, self.stop)
            done.append(finished)
            events.append(self._emitted(rid, req.result.tokens[-1:], finished))
        for rid, d in zip(ids, done, strict=True):
            if d:
                self.policy.remove_row(rid)
        keep = [i for i, d in enumerate(done) if not d]
        if not keep:
            return
        keep_rows(newcomers, keep)
        if self._batch is None:
            self._batch = newcomers
            return
        old = list(self._batch.row_ids)
        if join_batches(self.draft_model, self._batch, newcomers):
            for rid in old:
                self.requests[rid].result.draft_calls += 1
        # END SOLUTION
