"""Hidden tests, Week 3 Day 3 (instructor-only).

What the public tests do not show: sampling with the default key, an EOS in the
middle of one row's accepted drafts, several EOS ids, a batch in which every
budget is 0, lookahead 0 (batched plain decoding, no draft model), and each
row's own count of draft calls when budgets differ.
"""

import mlx.core as mx
import pytest

from specdec.batched import batched_speculative_generate
from specdec_course.testing import perturbed, random_markov
from tests.w3_helpers import (
    BatchCounting,
    BatchMarkov,
    HistoryScripted,
    cut_at_eos,
    history_hash,
    sometimes_wrong,
)

pytestmark = pytest.mark.w3d3

V = 16
PROMPTS = [[4], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [7, 7], [3, 9, 2]]


def _pair(every: int | None = 3) -> tuple[HistoryScripted, HistoryScripted]:
    """(draft, target) choosing from the whole visible history (logit 20 vs 0: no near-ties);
    the draft is wrong about 1 in ``every`` positions (never when ``every`` is None)."""
    script = history_hash(V)
    draft = script if every is None else sometimes_wrong(script, V, every)
    return HistoryScripted(V, draft), HistoryScripted(V, script)


def test_sampling_with_the_default_key():
    # Bug caught: the draft key split per step with mx.random.split only when sampling,
    # without handling key=None: crashes at T > 0 with the default key (every public
    # sampling test passes a key).
    probs = random_markov(4, seed=7)
    target, draft = BatchMarkov(probs), BatchMarkov(perturbed(probs, 0.5, seed=8))
    mx.random.seed(5)
    results = batched_speculative_generate(
        [[1], [0, 2]], draft, target, 6, lookahead=2, temperature=1.0
    )
    got = [r.tokens for r in results]
    assert [len(t) for t in got] == [6, 6], (
        f"T=1.0 with key=None must sample from the global RNG (split only a real key), got {got}"
    )


def test_eos_inside_one_rows_accepted_drafts():
    # Bug caught: only the last emitted token of a round checked for EOS: a row whose EOS is
    # an accepted draft in the middle of the round runs on past it.
    draft, target = _pair(every=None)  # every draft accepted: rounds of K + 1 = 5 tokens
    eos = target.greedy(PROMPTS[0], 12)[2]
    results = batched_speculative_generate(
        PROMPTS, draft, target, 12, lookahead=4, eos_token_id=eos
    )
    want = [cut_at_eos(target.greedy(p, 12), {eos}) for p in PROMPTS]
    assert len(want[0]) == 3 and any(len(w) == 12 for w in want), "test setup"
    got = [r.tokens for r in results]
    assert got == want, (
        f"EOS {eos} is row 0's 3rd token, inside its first round of 5 accepted tokens: got "
        f"{got}, want {want}. Look for the EOS among ALL emitted tokens and cut right after it"
    )
    assert results[0].finish_reason == "eos", (
        f"row 0 stopped at its EOS, finish_reason {results[0].finish_reason!r}, want 'eos'"
    )


def test_several_eos_ids():
    # Bug caught: `token == eos_token_id` instead of membership in the set of EOS ids: with a
    # list of ids no row ever stops (the public tests pass one int).
    draft, target = _pair()
    stop = {9, 5}
    results = batched_speculative_generate(
        PROMPTS, draft, target, 12, lookahead=3, eos_token_id=sorted(stop)
    )
    want = [cut_at_eos(target.greedy(p, 12), stop) for p in PROMPTS]
    assert {w[-1] for w in want if len(w) < 12} == stop, "test setup: both ids must end a row"
    got = [r.tokens for r in results]
    assert got == want, (
        f"eos_token_id={sorted(stop)}: got {got}, want {want}: ANY of the ids ends a row"
    )


def test_every_budget_zero_runs_nothing():
    # Bug caught: no early return when no row has a budget: the prefill of an empty batch
    # crashes (max() of nothing) or a model runs for rows that want no tokens.
    draft, target = (BatchCounting(m) for m in _pair())
    for budgets in (0, [0, 0]):
        results = batched_speculative_generate([[1], [2, 3]], draft, target, budgets)
        assert [r.tokens for r in results] == [[], []], f"max_tokens={budgets}: no tokens at all"
        assert draft.calls == target.calls == 0, (
            f"max_tokens={budgets}: {draft.calls} draft and {target.calls} target calls; with "
            "every budget 0 return empty results before any model runs"
        )


def test_lookahead_zero_never_runs_the_draft():
    # Bug caught: the draft model prefilled up front even when no round drafts (K = 0 is
    # batched plain decoding: the draft must cost nothing). The public tests never use K = 0.
    draft, target = (BatchCounting(m) for m in _pair())
    results = batched_speculative_generate(PROMPTS, draft, target, [6, 3, 0, 5], lookahead=0)
    for b, (p, r, m) in enumerate(zip(PROMPTS, results, [6, 3, 0, 5], strict=True)):
        assert r.tokens == target.greedy(p, m), f"row {b} with K=0: got {r.tokens}"
        assert r.rounds == m and set(r.drafted_per_round) <= {0}, (
            f"row {b}: K=0 rounds emit one target token each: {r.drafted_per_round}"
        )
    assert draft.calls == 0 and all(r.draft_calls == 0 for r in results), (
        f"lookahead=0 made {draft.calls} draft calls (row counts "
        f"{[r.draft_calls for r in results]}): never prefill the draft when no round drafts"
    )


def test_each_rows_draft_calls_with_different_budgets():
    # Bug caught: a row's draft_calls grown by its OWN draft count (min(K, remaining - 1))
    # instead of the K batched draft calls it took part in; the public B = 1 comparison
    # cannot tell them apart.
    draft, target = (BatchCounting(m) for m in _pair())
    budgets = [3, 12, 7, 2]
    results = batched_speculative_generate(PROMPTS, draft, target, budgets, lookahead=4)
    ks = [length - 1 for _, length in target.shapes[1:]]  # K of every round (after prefill)
    for b, r in enumerate(results):
        want = 1 + sum(ks[: r.rounds])  # the draft prefill, then K calls per round it was in
        assert r.draft_calls == want, (
            f"row {b} (max_tokens={budgets[b]}) took part in the draft prefill and in rounds "
            f"with K = {ks[: r.rounds]}: draft_calls should be {want}, got {r.draft_calls}. "
            "Count every batched draft call the row was in, not its own drafted tokens"
        )
    assert sum(r.draft_calls for r in results) == sum(bsz for bsz, _ in draft.shapes), (
        f"the draft ran on {sum(bsz for bsz, _ in draft.shapes)} rows in all, but the rows' "
        f"draft_calls add up to {sum(r.draft_calls for r in results)}: drop finished rows "
        "from both caches (filter_rows) so no model runs on them"
    )
