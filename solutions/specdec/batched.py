"""Week 3 Day 3: the batched speculative loop.

Speculative decoding for a batch of prompts of different lengths. Every round
drafts K tokens for all rows with K batched draft calls, verifies all rows
with ONE batched target call, and then each row goes its own way: it keeps its
own number of accepted tokens, rewinds its own number of cache positions,
hits EOS or its budget at its own time. Finished rows leave the batch.

Cache invariants at the start of a round, for every live row with context
``ctx`` (prompt + tokens emitted so far):

* target cache: ``ctx[:-1]``; the round feeds ``[ctx[-1], d_1 .. d_K]``.
* draft cache: ``ctx[:-1]`` before the first drafting round and ``ctx[:-2]``
  after it; the first draft step feeds the row's pending tokens (1 token, then
  always 2: ``ctx[-2:]``), so every row feeds the same number of tokens even
  though some accepted all K drafts and some none.

With ``n_b`` drafts accepted, both caches hold exactly ``K - n_b`` stale
positions of row ``b`` after the round: that is each row's rewind.
"""

from __future__ import annotations

from collections.abc import Iterable

import mlx.core as mx
import mlx.nn as nn

from specdec.batched_verify import batched_verify
from specdec.ragged import batched_prefill, sample_rows
from specdec_course.api.batching import (
    budget_list,
    check_batchable,
    filter_rows,
    prompt_lists,
    rewind_rows,
)
from specdec_course.api.keys import split_key
from specdec_course.api.results import GenerationResult
from specdec_course.api.validation import check_count, check_same_vocab, check_temperature, eos_ids

#: The id written into padded slots. Any valid id works because padded columns
#: are masked; the tests change it to prove that it never leaks into the output.
PAD_ID = 0


def batched_speculative_generate(
    batch_prompts: list[list[int]] | list[mx.array],
    draft_model: nn.Module,
    target_model: nn.Module,
    max_tokens: int | list[int] = 100,
    *,
    lookahead: int = 4,
    temperature: float = 0.0,
    eos_token_id: int | Iterable[int] | None = None,
    key: mx.array | None = None,
) -> list[GenerationResult]:
    """Speculative decoding of a ragged batch, row by row equal to single-sequence decoding.

    Each round: K batched draft calls propose ``d_1 .. d_K`` for every live
    row, ONE batched target call scores ``[last token, d_1 .. d_K]`` for all
    of them, :func:`~specdec.batched_verify.batched_verify` decides per row,
    and each row's caches are rewound by its own count of stale positions.
    ``K = min(lookahead, largest remaining budget - 1)``; a row with less
    budget left counts only ``remaining - 1`` drafts (``num_draft``), so no
    row ever overshoots its ``max_tokens``. A row stops at EOS (kept, nothing
    after it) or at its budget and is filtered out of both caches.

    The same arguments, in the same order, as the design card's
    :func:`batched_speculative_decode` (a thin wrapper around this function),
    but the full :class:`GenerationResult` of every row: tokens, per-round
    counts, calls and finish reason.

    Args:
        batch_prompts: ``B >= 1`` prompts (lists of ints or 1-D int arrays),
            each at least one token long, of any lengths.
        draft_model: the cheap proposer (plain ``KVCache`` layers).
        target_model: the model whose output is reproduced exactly; same
            vocabulary size as the draft.
        max_tokens: the most tokens per row, one int or a list of ``B`` ints
            (``>= 0``; a row with 0 gets no tokens and costs nothing).
        lookahead: K >= 0 draft tokens per round (0 = batched plain decoding).
        temperature: 0 for greedy, > 0 to sample (both models, same T).
        eos_token_id: an id or a collection of ids that end a row.
        key: PRNG key, split every round, for reproducible sampling.

    Returns:
        One :class:`GenerationResult` per prompt, in order: under greedy
        decoding exactly the target's own greedy tokens, under sampling tokens
        following the target's distribution exactly. ``target_calls`` and
        ``draft_calls`` count the forward passes the row took part in
        (prefills included); per-round counts are the row's own (its drafted
        count and accepted count). A row whose prompt is one token has
        nothing to prefill, yet its (all-padding) row is in the batched
        prefill that longer prompts need, so that call counts for it too;
        only when every prompt is one token is there no prefill call.

    Raises:
        TypeError, ValueError: for an empty batch, an empty prompt, bad
            ``max_tokens``, a negative lookahead, a bad temperature,
            different vocabularies or caches that cannot be batched - all
            before any model runs.
    """
    # TODO(W3D3): the batched draft -> verify -> per-row rewind loop.
    #   1. Validate everything first (prompt_lists, budget_list, check_count for the lookahead,
    #      check_temperature, eos_ids, check_same_vocab, check_batchable for both models).
    #   2. Rows with budget 0 are done. Prefill the target with every live row's prompt[:-1]
    #      (batched_prefill; it makes no call when all are empty).
    #   3. Each round: K = min(lookahead, max remaining - 1); per-row counts
    #      min(K, remaining_b - 1). Split the key into a draft key and a verify key.
    #   4. K > 0: (prefill the draft the first time), then K batched draft steps: the first
    #      feeds each row's pending tokens, later ones the previous draft token; keep each
    #      step's (B, V) float32 logits and sample_rows the tokens.
    #   5. ONE target call on [last token, d_1..d_K] of every row; batched_verify with
    #      num_draft (K = 0: sample_rows on the target's logits instead).
    #   6. Per row: emit tokens[:n_b + 1], cut at EOS, record_round(count_b, n_b),
    #      count the calls; a row at EOS or its budget is finished.
    #   7. filter_rows both caches to the live rows, then rewind_rows both by K - n_b.
    #      Pending draft tokens become the last two tokens of each context.
    # BEGIN SOLUTION
    rows = prompt_lists(batch_prompts)
    budgets = budget_list(max_tokens, len(rows))
    k_max = check_count(lookahead, "lookahead (K)")
    temperature = check_temperature(temperature)
    stop = eos_ids(eos_token_id)
    check_same_vocab(draft_model, target_model)
    check_batchable(draft_model, "draft")
    check_batchable(target_model, "target")
    results = [GenerationResult() for _ in rows]
    live = [b for b in range(len(rows)) if budgets[b] > 0]
    if not live:
        return results

    contexts = {b: list(rows[b]) for b in live}
    prefixes = [contexts[b][:-1] for b in live]
    target_cache, _ = batched_prefill(target_model, prefixes, pad_id=PAD_ID)
    if any(prefixes):
        for b in live:
            results[b].target_calls += 1
    draft_cache = None
    while live:
        remaining = [budgets[b] - len(results[b].tokens) for b in live]
        k = min(k_max, max(remaining) - 1)
        counts = [min(k, r - 1) for r in remaining]
        key, draft_key = split_key(key)
        key, verify_key = split_key(key)
        last = mx.array([contexts[b][-1] for b in live], dtype=mx.int32)[:, None]

        if k > 0:
            if draft_cache is None:
                draft_cache, _ = batched_prefill(draft_model, prefixes, pad_id=PAD_ID)
                if any(prefixes):
                    for b in live:
                        results[b].draft_calls += 1
                pending = last
            feed, steps, step_logits = pending, [], []
            for _ in range(k):
                logits = draft_model(feed, cache=draft_cache)[:, -1, :].astype(mx.float32)
                draft_key, sub = split_key(draft_key)
                feed = sample_rows(logits, temperature, sub)[:, None]
                steps.append(feed)
                step_logits.append(logits)
            drafts = mx.concatenate(steps, axis=1)
            target_logits = target_model(mx.concatenate([last, drafts], axis=1), cache=target_cache)
            accepted, out = batched_verify(
                drafts,
                target_logits,
                mx.stack(step_logits, axis=1),
                num_draft=counts,
                temperature=temperature,
                key=verify_key,
            )
        else:
            target_logits = target_model(last, cache=target_cache)[:, -1, :]
            out = sample_rows(target_logits, temperature, verify_key)[:, None]
            accepted = mx.zeros((len(live),), dtype=mx.int32)

        mx.eval(accepted, out)  # the round's one device read: everything above runs now
        accepted_list, out_rows = accepted.tolist(), out.tolist()
        keep = []
        for i, b in enumerate(live):
            n, res = accepted_list[i], results[b]
            emitted = out_rows[i][: n + 1]
            res.record_round(counts[i], n)
            res.target_calls += 1
            res.draft_calls += k
            for j, token in enumerate(emitted):
                if token in stop:
                    emitted = emitted[: j + 1]
                    res.finish_reason = "eos"
                    break
            contexts[b].extend(emitted)
            res.tokens.extend(emitted)
            if res.finish_reason != "eos" and len(res.tokens) < budgets[b]:
                keep.append(i)
        if not keep:
            break
        if len(keep) < len(live):
            filter_rows(target_cache, keep)
            if draft_cache is not None:
                filter_rows(draft_cache, keep)
            live = [live[i] for i in keep]
        # Each row fed K + 1 target positions and kept n + 1 of them minus the
        # last emitted token: K - n stale positions, the same count in the draft.
        stale = [k - accepted_list[i] for i in keep]
        rewind_rows(target_cache, stale)
        if draft_cache is not None:
            rewind_rows(draft_cache, stale)
            pending = mx.array([contexts[b][-2:] for b in live], dtype=mx.int32)
    return results
    # END SOLUTION


def batched_speculative_decode(
    batch_prompts: list[list[int]] | list[mx.array],
    draft_model: nn.Module,
    target_model: nn.Module,
    max_tokens: int | list[int] = 100,
    *,
    lookahead: int = 4,
    temperature: float = 0.0,
    eos_token_id: int | Iterable[int] | None = None,
    key: mx.array | None = None,
) -> list[list[int]]:
    """The design card's call: each row's tokens, nothing else.

    ``batched_speculative_decode(batch_prompts, draft_model, target_model)``
    as the course's design card writes it (up to 100 tokens per row). Given,
    not a task: it returns ``[r.tokens for r in batched_speculative_generate(...)]``
    with every argument passed through, so it is exactly as lossless as
    :func:`batched_speculative_generate` and raises what it raises. Call
    :func:`batched_speculative_generate` itself for the per-row statistics
    (accepted and drafted counts per round, target and draft calls, finish
    reason) that this call drops.

    Returns:
        One list of Python ints per prompt, in order (shorter than
        ``max_tokens`` only when the row ended at an EOS, which it keeps).
    """
    results = batched_speculative_generate(
        batch_prompts,
        draft_model,
        target_model,
        max_tokens,
        lookahead=lookahead,
        temperature=temperature,
        eos_token_id=eos_token_id,
        key=key,
    )
    return [r.tokens for r in results]
