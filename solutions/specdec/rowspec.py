"""Week 5 Day 1: one speculative round over rows that each go their own way.

Week 3's loop owned its batch from the first round to the last. A server needs
the round on its own, over whatever rows are live, so that rows can join and
leave between rounds (Week 5 Day 2). This module splits the loop into parts:

* :func:`start_rows` admits new rows: ONE batched target prefill over the whole
  prompts (whose last logits give each row its first token at once - the
  time to first token of a server), and one draft prefill over ``prompt[:-1]``;
* :func:`speculative_round` runs one round with the lookahead a policy chose
  (:mod:`specdec.rowpolicy`), K = 0 meaning plain batched decoding with no draft
  call at all;
* :func:`settle_row` applies a row's EOS and budget to what the round emitted;
* :func:`rowwise_speculative_generate` is the whole loop for a fixed batch.

Cache invariants between rounds, for every row with context ``ctx`` (prompt +
tokens emitted so far): the target cache holds ``ctx[:-1]``; the draft cache
holds ``ctx[:-lag]`` with one ``lag`` for all rows (``batch.draft_lag``): 2 after
a drafting round (as in Week 3), one more after every K = 0 round. A drafting
round's first draft step feeds each row's last ``lag`` tokens, so the draft
catches up in the same call.

Every row carries its own PRNG key, split the same way whoever shares the batch,
so a sampled request is reproducible from its key alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from specdec.batched_verify import PLACEHOLDER, batched_verify
from specdec.ragged import batched_prefill, sample_rows
from specdec.rowpolicy import FixedLookahead, RowLookahead
from specdec_course.api.batching import (
    RaggedKVCache,
    budget_list,
    check_batchable,
    filter_rows,
    join_rows,
    prompt_lists,
    rewind_rows,
)
from specdec_course.api.keys import split_key
from specdec_course.api.results import GenerationResult
from specdec_course.api.validation import check_same_vocab, check_temperature, eos_ids

#: The id written into padded slots (masked, never attended).
PAD_ID = 0


@dataclass
class RowBatch:
    """The live rows between rounds (given: students fill it through the functions below).

    Attributes:
        row_ids: the caller's id of each row (request ids), in batch order.
        contexts: each row's prompt + emitted tokens.
        keys: each row's PRNG key (None: MLX's global random state).
        target_cache: per-layer :class:`RaggedKVCache`, holding ``ctx[:-1]`` of every row.
        draft_cache: the draft's cache, holding ``ctx[:-draft_lag]``; None without a draft.
        draft_lag: how many context tokens every row's draft cache lacks.
    """

    row_ids: list[int]
    contexts: list[list[int]]
    keys: list[mx.array | None]
    target_cache: list[RaggedKVCache]
    draft_cache: list[RaggedKVCache] | None
    draft_lag: int = 2

    def __len__(self) -> int:
        return len(self.row_ids)


@dataclass(frozen=True)
class RowOutcome:
    """What one round gave one row: ``tokens`` (accepted drafts + one target token)."""

    tokens: list[int]
    drafted: int
    accepted: int


def keep_rows(batch: RowBatch, keep: Sequence[int]) -> None:
    """Keep only the rows at positions ``keep`` (increasing) of the batch (given)."""
    keep = list(keep)
    if len(keep) == len(batch):
        return
    filter_rows(batch.target_cache, keep)
    if batch.draft_cache is not None:
        filter_rows(batch.draft_cache, keep)
    batch.row_ids = [batch.row_ids[i] for i in keep]
    batch.contexts = [batch.contexts[i] for i in keep]
    batch.keys = [batch.keys[i] for i in keep]


def join_batches(draft_model: nn.Module | None, batch: RowBatch, newcomers: RowBatch) -> int:
    """Append ``newcomers`` (fresh from :func:`start_rows`) to ``batch`` (given).

    A batch whose draft lags more than 2 tokens (after K = 0 rounds) first catches up with
    one draft call, so every row shares one lag again.

    Returns:
        The draft calls made (0 or 1); every old row took part in it.
    """
    calls = 0
    if batch.draft_cache is not None and batch.draft_lag > 2:
        lag = batch.draft_lag
        feed = mx.array([ctx[-lag:-2] for ctx in batch.contexts], dtype=mx.int32)
        draft_model(feed, cache=batch.draft_cache)
        batch.draft_lag, calls = 2, 1
    join_rows(batch.target_cache, newcomers.target_cache)
    if batch.draft_cache is not None and newcomers.draft_cache is not None:
        join_rows(batch.draft_cache, newcomers.draft_cache)
    batch.row_ids += newcomers.row_ids
    batch.contexts += newcomers.contexts
    batch.keys += newcomers.keys
    return calls


def _sample(logits: mx.array, temperature: float, keys: Sequence[mx.array | None]) -> mx.array:
    """One token per row; each row drawn with its own key when keys are given (given)."""
    if temperature == 0 or all(k is None for k in keys):
        return sample_rows(logits, temperature, None)
    rows = [sample_rows(logits[b : b + 1], temperature, k) for b, k in enumerate(keys)]
    return mx.concatenate(rows)


def start_rows(
    draft_model: nn.Module | None,
    target_model: nn.Module,
    prompts: list[list[int]],
    row_ids: Sequence[int],
    keys: Sequence[mx.array | None],
    *,
    temperature: float = 0.0,
) -> tuple[RowBatch, list[int]]:
    """Prefill new rows and give each its first token.

    Args:
        draft_model: the proposer, or None (plain decoding only).
        target_model: the target.
        prompts: ``B >= 1`` prompts, each at least one token (already checked).
        row_ids: the caller's ids for the rows.
        keys: one PRNG key (or None) per row.
        temperature: 0 = greedy, > 0 = sample the first token from the target.

    Returns:
        ``(batch, first)``: the new rows (contexts = prompt + first token, draft lag 2)
        and each row's first token - the target's own next token after its prompt.
    """
    # TODO(W5D1): admission: one target prefill that also yields the first tokens.
    #   1. batched_prefill the target with the WHOLE prompts: its last-column logits (B, V)
    #      predict every row's first token, and its cache then holds ctx[:-1].
    #   2. Split each row's key (split_key) and sample the first tokens with _sample.
    #   3. Prefill the draft (if any) with prompt[:-1]: it then holds ctx[:-2] (lag 2).
    #   4. Return the RowBatch (contexts = prompt + [first]) and the first tokens.
    # BEGIN SOLUTION
    target_cache, logits = batched_prefill(target_model, prompts, pad_id=PAD_ID)
    keys = list(keys)
    subs = []
    for i, key in enumerate(keys):
        keys[i], sub = split_key(key)
        subs.append(sub)
    first = _sample(logits, temperature, subs).tolist()
    draft_cache = None
    if draft_model is not None:
        draft_cache, _ = batched_prefill(draft_model, [p[:-1] for p in prompts], pad_id=PAD_ID)
    contexts = [list(p) + [t] for p, t in zip(prompts, first, strict=True)]
    return RowBatch(list(row_ids), contexts, keys, target_cache, draft_cache, 2), first
    # END SOLUTION


def _verify(
    drafts: mx.array,
    target_logits: mx.array,
    draft_logits: mx.array,
    counts: list[int],
    temperature: float,
    keys: list[mx.array | None],
) -> tuple[mx.array, mx.array]:
    """``batched_verify`` for the round; per row with its own key when sampling (given).

    A sampled row is verified on its own first ``counts[b]`` drafts, so its random draws
    depend on its key and its count only, never on the batch's K or company.
    """
    if temperature == 0 or all(k is None for k in keys):
        return batched_verify(
            drafts, target_logits, draft_logits, num_draft=counts, temperature=temperature
        )
    width = drafts.shape[1] + 1
    accepted, tokens = [], []
    for b, (c, key) in enumerate(zip(counts, keys, strict=True)):
        n, out = batched_verify(
            drafts[b : b + 1, :c],
            target_logits[b : b + 1, : c + 1],
            draft_logits[b : b + 1, :c],
            temperature=temperature,
            key=key,
        )
        accepted.append(n)
        tokens.append(mx.pad(out, [(0, 0), (0, width - c - 1)], constant_values=PLACEHOLDER))
    return mx.concatenate(accepted), mx.concatenate(tokens)


def speculative_round(
    draft_model: nn.Module | None,
    target_model: nn.Module,
    batch: RowBatch,
    k: int,
    counts: Sequence[int],
    *,
    temperature: float = 0.0,
) -> list[RowOutcome]:
    """One round for every row of ``batch``: draft ``k`` steps, ONE target call, rewind.

    Args:
        draft_model: the proposer (may be None only when ``k == 0``).
        target_model: the target.
        batch: the live rows; updated in place (contexts, caches, keys, draft lag).
        k: the round's lookahead (0 = one plain decoding step, no draft call).
        counts: drafts each row verifies, ``0 <= counts[b] <= k``.
        temperature: 0 = greedy, > 0 = Leviathan et al. sampling.

    Returns:
        One :class:`RowOutcome` per row, in batch order: ``counts[b]`` drafted (0 when
        ``k == 0``), ``n_b`` accepted and the ``n_b + 1`` tokens emitted. EOS and budgets
        are the caller's (:func:`settle_row`).
    """
    # TODO(W5D1): Week 3's round, with a per-round K and per-row keys.
    #   1. Per row: split its key into the next key and this round's key; split that into a
    #      verify key and a draft key (split_key passes None through).
    #   2. k > 0: the first draft step feeds each row's last `draft_lag` tokens, later steps
    #      the previous draft; every step's row keys advance by one split (_sample).
    #      Keep the float32 (B, V) logits of every step.
    #   3. ONE target call on [ctx[-1], d_1 .. d_k]; _verify with the counts and verify keys.
    #      k == 0: one target call on ctx[-1], _sample the target's logits, 0 accepted.
    #   4. One device read (mx.eval); each row emits tokens[:n_b + 1] and extends its context.
    #   5. k > 0: rewind both caches by k - n_b per row, draft lag = 2.
    #      k == 0: nothing to rewind; the draft (if any) now lags one more token.
    # BEGIN SOLUTION
    counts = [int(c) for c in counts]
    verify_keys, draft_keys = [], []
    for i, key in enumerate(batch.keys):
        batch.keys[i], round_key = split_key(key)
        round_key, verify_key = split_key(round_key)
        verify_keys.append(verify_key)
        draft_keys.append(round_key)
    last = mx.array([[ctx[-1]] for ctx in batch.contexts], dtype=mx.int32)
    if k > 0:
        lag = batch.draft_lag
        feed = mx.array([ctx[-lag:] for ctx in batch.contexts], dtype=mx.int32)
        steps, step_logits = [], []
        for _ in range(k):
            logits = draft_model(feed, cache=batch.draft_cache)[:, -1, :].astype(mx.float32)
            subs = []
            for i, key in enumerate(draft_keys):
                draft_keys[i], sub = split_key(key)
                subs.append(sub)
            feed = _sample(logits, temperature, subs)[:, None]
            steps.append(feed)
            step_logits.append(logits)
        drafts = mx.concatenate(steps, axis=1)
        target_logits = target_model(
            mx.concatenate([last, drafts], axis=1), cache=batch.target_cache
        )
        accepted, out = _verify(
            drafts, target_logits, mx.stack(step_logits, axis=1), counts, temperature, verify_keys
        )
    else:
        logits = target_model(last, cache=batch.target_cache)[:, -1, :].astype(mx.float32)
        out = _sample(logits, temperature, verify_keys)[:, None]
        accepted = mx.zeros((len(batch),), dtype=mx.int32)
    mx.eval(accepted, out)  # the round's one device read
    accepted_list, rows = accepted.tolist(), out.tolist()
    outcomes = []
    for i, n in enumerate(accepted_list):
        emitted = rows[i][: n + 1]
        batch.contexts[i].extend(emitted)
        outcomes.append(RowOutcome(emitted, counts[i] if k > 0 else 0, n))
    if k > 0:
        stale = [k - n for n in accepted_list]
        rewind_rows(batch.target_cache, stale)
        rewind_rows(batch.draft_cache, stale)
        batch.draft_lag = 2
    elif batch.draft_cache is not None:
        batch.draft_lag += 1
    return outcomes
    # END SOLUTION


def settle_row(
    result: GenerationResult, tokens: list[int], budget: int, stop: frozenset[int]
) -> bool:
    """Add a round's ``tokens`` to ``result`` up to EOS and the budget; True when the row is done.

    Args:
        result: the row's record so far (its ``tokens`` and ``finish_reason`` change).
        tokens: what the round emitted for the row.
        budget: the row's ``max_tokens``.
        stop: the EOS ids.
    """
    # TODO(W5D1): cut at the first EOS (kept) and at the budget.
    #   1. Take tokens up to len(result.tokens) + len == budget.
    #   2. The first EOS among them ends the row (finish_reason "eos"); nothing after it.
    #   3. Done when EOS was hit or the budget is reached (finish_reason stays "length").
    # BEGIN SOLUTION
    tokens = tokens[: max(budget - len(result.tokens), 0)]
    for j, token in enumerate(tokens):
        if token in stop:
            result.tokens.extend(tokens[: j + 1])
            result.finish_reason = "eos"
            return True
    result.tokens.extend(tokens)
    return len(result.tokens) >= budget
    # END SOLUTION


def as_policy(lookahead: int | FixedLookahead | RowLookahead) -> FixedLookahead | RowLookahead:
    """An int K becomes :class:`FixedLookahead`; a policy passes through (given)."""
    if isinstance(lookahead, (FixedLookahead, RowLookahead)):
        return lookahead
    return FixedLookahead(lookahead)


def rowwise_speculative_generate(
    batch_prompts: list[list[int]] | list[mx.array],
    draft_model: nn.Module,
    target_model: nn.Module,
    max_tokens: int | list[int] = 100,
    *,
    lookahead: int | FixedLookahead | RowLookahead = 4,
    temperature: float = 0.0,
    eos_token_id: int | Iterable[int] | None = None,
    key: mx.array | None = None,
) -> list[GenerationResult]:
    """Speculative decoding of a fixed batch, each round's K from a policy.

    Row by row the output equals single-sequence decoding: the target's own greedy
    tokens, or under sampling tokens following its distribution exactly.

    Args:
        batch_prompts: ``B >= 1`` prompts (lists of ints or 1-D int arrays), each non-empty.
        draft_model: the proposer; same vocabulary as the target, plain ``KVCache`` layers.
        target_model: the model whose output is reproduced.
        max_tokens: one budget (>= 0) for all rows or one per row.
        lookahead: an int K (Week 3's fixed rule) or a policy such as :class:`RowLookahead`.
        temperature: 0 for greedy, > 0 to sample.
        eos_token_id: an id or ids that end a row (kept).
        key: PRNG key; row ``b`` gets the ``b``-th key of a split chain of it.

    Returns:
        One :class:`GenerationResult` per prompt: tokens, calls the row took part in
        (prefills included) and its own drafted/accepted counts per round.
    """
    # TODO(W5D1): the loop over start_rows / plan / speculative_round / settle_row.
    #   1. Validate (prompt_lists, budget_list, as_policy, check_temperature, eos_ids,
    #      check_same_vocab, check_batchable) before any model runs.
    #   2. Rows with budget 0 are done. Give row b its key: split a chain from `key`.
    #   3. start_rows for the others (1 target call each; 1 draft call if any prompt has
    #      more than one token); settle the first token; policy.add_row for every row.
    #   4. While rows are live: plan(row ids, remaining budgets), speculative_round,
    #      count calls (k > 0: k draft calls), record_round, policy.observe, settle_row.
    #   5. keep_rows the unfinished rows; policy.remove_row the others.
    # BEGIN SOLUTION
    rows = prompt_lists(batch_prompts)
    budgets = budget_list(max_tokens, len(rows))
    policy = as_policy(lookahead)
    temperature = check_temperature(temperature)
    stop = eos_ids(eos_token_id)
    check_same_vocab(draft_model, target_model)
    check_batchable(draft_model, "draft")
    check_batchable(target_model, "target")
    results = [GenerationResult() for _ in rows]
    keys = []
    for _ in rows:
        key, sub = split_key(key)
        keys.append(sub)
    live = [b for b in range(len(rows)) if budgets[b] > 0]
    if not live:
        return results
    batch, first = start_rows(
        draft_model,
        target_model,
        [rows[b] for b in live],
        live,
        [keys[b] for b in live],
        temperature=temperature,
    )
    drafted_prefill = any(len(rows[b]) > 1 for b in live)
    done = []
    for i, b in enumerate(live):
        results[b].target_calls += 1
        results[b].draft_calls += int(drafted_prefill)
        policy.add_row(b)
        done.append(settle_row(results[b], [first[i]], budgets[b], stop))
    while True:
        keep = [i for i, d in enumerate(done) if not d]
        for i, d in enumerate(done):
            if d:
                policy.remove_row(batch.row_ids[i])
        if not keep:
            return results
        keep_rows(batch, keep)
        remaining = [budgets[b] - len(results[b].tokens) for b in batch.row_ids]
        k, counts = policy.plan(batch.row_ids, remaining)
        outcomes = speculative_round(
            draft_model, target_model, batch, k, counts, temperature=temperature
        )
        done = []
        for b, outcome in zip(batch.row_ids, outcomes, strict=True):
            res = results[b]
            res.target_calls += 1
            res.draft_calls += k
            res.record_round(outcome.drafted, outcome.accepted)
            policy.observe(b, outcome.drafted, outcome.accepted)
            done.append(settle_row(res, outcome.tokens, budgets[b], stop))
    # END SOLUTION
