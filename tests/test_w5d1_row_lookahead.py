"""Week 5 Day 1 - per-row lookahead inside one batch (book chapter week5-01-row-lookahead)."""

from collections import Counter

import mlx.core as mx
import pytest

from specdec.rowpolicy import RowLookahead
from specdec.rowspec import rowwise_speculative_generate, settle_row, start_rows
from specdec_course.api.results import GenerationResult
from specdec_course.api.serving import BatchCosts
from specdec_course.testing import exact_sequence_distribution, perturbed, random_markov, tiny_pair
from specdec_course.testing.diffs import token_mismatch
from specdec_course.testing.stats import assert_follows
from tests.w3_helpers import BatchCounting, BatchMarkov, clear_ragged_prompts, first_difference
from tests.w5_helpers import ScheduledPolicy, scheduled_speculation, scripted_pair, split_pair

pytestmark = pytest.mark.w5d1

#: Draft steps cost 0.1; a (B, K+1) verify pass 1, 1.05, 1.1, 1.3, 1.5 for K = 0..4.
FLAT = BatchCosts.uniform(0.1, [1.0, 1.05, 1.1, 1.3, 1.5])


def policy_with(history, costs=FLAT, **kw):
    """A RowLookahead whose rows have the given (drafted, accepted) histories."""
    policy = RowLookahead(costs, **kw)
    for row, rounds in history.items():
        policy.add_row(row)
        for drafted, accepted in rounds:
            policy.observe(row, drafted, accepted)
    return policy


class TestAcceptanceEstimate:
    def test_prior_for_a_new_row(self):
        policy = policy_with({7: []}, prior_alpha=0.3)
        assert policy.alpha(7) == pytest.approx(0.3), (
            f"a row without rounds must get the prior alpha 0.3, got {policy.alpha(7)}"
        )

    def test_smoothed_maximum_likelihood(self):
        # A = 4 + 1 accepted, R = 1 round that ended in a rejection, prior 2 x 0.5:
        # (5 + 1) / (5 + 1 + 2) = 0.75. The per-round mean (4/4 + 1/4) / 2 = 0.625 is wrong.
        policy = policy_with({0: [(4, 4), (4, 1)]})
        assert policy.alpha(0) == pytest.approx(0.75), (
            f"alpha_hat = (A + w*a0) / (A + R + w) = 6/8 = 0.75, got {policy.alpha(0)}: count "
            "accepted drafts and rejecting rounds, not the mean per-round rate"
        )

    def test_full_acceptance_is_not_a_rejection(self):
        policy = policy_with({0: [(3, 3), (3, 3)]}, prior_weight=0.0)
        assert policy.alpha(0) == pytest.approx(1.0), (
            f"rounds that accepted all their drafts contain no rejection: alpha_hat = 6/6, got "
            f"{policy.alpha(0)}"
        )

    def test_rounds_without_drafts_are_no_evidence(self):
        policy = policy_with({0: [(2, 1), (0, 0), (0, 0)]}, prior_weight=0.0)
        assert policy.alpha(0) == pytest.approx(0.5), (
            f"a round that drafted nothing says nothing about alpha: 1 accepted, 1 rejection "
            f"-> 0.5, got {policy.alpha(0)}"
        )

    def test_window_keeps_the_last_rounds(self):
        policy = policy_with({0: [(4, 0), (4, 4), (4, 4)]}, prior_weight=0.0, window=2)
        assert policy.alpha(0) == pytest.approx(1.0), (
            f"window=2 keeps only the last two rounds (8 of 8 accepted), got {policy.alpha(0)}"
        )

    def test_rows_are_separate_and_removable(self):
        policy = policy_with({0: [(4, 4)], 1: [(4, 0)]}, prior_weight=0.0)
        assert policy.alpha(0) == 1.0 and policy.alpha(1) == 0.0, (
            f"each row keeps its own history: got {policy.alpha(0)} and {policy.alpha(1)}"
        )
        policy.add_row(0)
        assert policy.alpha(0) == pytest.approx(0.5), "add_row must start the row afresh"
        policy.remove_row(1)
        with pytest.raises(KeyError):
            policy.alpha(1)

    def test_a_new_row_starts_from_the_rows_that_left(self):
        # Rows 0 and 1 leave with A = 8 + 1, R = 0 + 1; prior 2 x 0.5:
        # a0 = (9 + 1) / (9 + 1 + 2) = 10/12, and a new row without rounds gets a0.
        policy = policy_with({0: [(4, 4), (4, 4)], 1: [(4, 1)]})
        policy.remove_row(0)
        policy.remove_row(1)
        policy.add_row(2)
        assert policy.pooled_alpha() == pytest.approx(10 / 12), (
            f"pooled_alpha = (A_pool + w a0) / (A_pool + R_pool + w) = 10/12 after rows with "
            f"9 accepted drafts and 1 rejection left, got {policy.pooled_alpha()}: remove_row "
            "must add a row's evidence to the pool"
        )
        assert policy.alpha(2) == pytest.approx(10 / 12), (
            f"a new row's alpha_hat is the pooled prior, got {policy.alpha(2)}"
        )
        policy.observe(2, 2, 0)  # A = 0, R = 1: (0 + 2 * 10/12) / (0 + 1 + 2)
        assert policy.alpha(2) == pytest.approx(20 / 36), (
            f"(A + w a0) / (A + R + w) with a0 the pooled prior = 20/36, got {policy.alpha(2)}"
        )


class TestPlan:
    def test_a_row_that_accepts_everything_with_one_that_accepts_nothing(self):
        # tokens(K) = (K + 1) + 1; cost = 0.1 K + verify[K]:
        # K=0: 2/1 = 2, K=1: 3/1.15 = 2.61, K=2: 4/1.3 = 3.08, K=3: 5/1.6 = 3.13, K=4: 6/1.9 = 3.16
        policy = policy_with({0: [(4, 4)], 1: [(4, 0)]}, prior_weight=0.0, k_max=4)
        k, counts = policy.plan([0, 1], [50, 50])
        assert (k, counts) == (4, [4, 4]), (
            f"one perfect row pays for K=4 (6/1.9 = 3.16 tokens per unit beats K=3's 3.13), and "
            f"the other row's verification comes free in the same pass: want (4, [4, 4]), got "
            f"{(k, counts)}"
        )

    def test_no_row_pays_gives_plain_decoding(self):
        policy = policy_with({0: [(4, 0)], 1: [(4, 0)]}, prior_weight=0.0, k_max=4)
        assert policy.plan([0, 1], [50, 50]) == (0, [0, 0]), (
            "rows that accept nothing: every K > 0 costs more for the same 2 tokens, so K = 0"
        )

    def test_batch_size_changes_the_choice(self):
        # One row, alpha 0.6: verify is nearly free at B = 1 -> K=3 (2.176/1.21 = 1.80 per unit).
        # Eight rows: verify grows with B*(K+1) -> K=1 (12.8/1.1 = 11.6 beats K=2's 15.68/1.6).
        costs = BatchCosts(
            [0.0] + [0.05] * 8,
            [[1.0], [1.0, 1.02, 1.04, 1.06]] + [[1.0, 1.05, 1.5, 2.0]] * 7,
        )
        history = {r: [(2, 1), (2, 2), (2, 1)] for r in range(8)}  # A=4, R=2 (+ prior 2x0.5)
        policy = policy_with(history, costs, k_max=3)
        assert policy.alpha(0) == pytest.approx(0.625)
        single = policy.plan([0], [40])
        full = policy.plan(list(range(8)), [40] * 8)
        assert single[0] == 3 and full[0] == 1, (
            f"alpha 0.625 with these costs: K=3 for one row, K=1 for eight (the (8, K+1) pass "
            f"costs 1.5x at K=2), got K={single[0]} and K={full[0]}: look up the costs of the "
            "batch's OWN size (costs.draft(B), costs.verify_pass(B, K))"
        )

    def test_budgets_cap_k_and_counts(self):
        policy = policy_with({0: [(4, 4)], 1: [(4, 4)]}, prior_weight=0.0, k_max=4)
        assert policy.plan([0, 1], [1, 3]) == (2, [0, 2]), (
            "remaining budgets 1 and 3: K <= max(remaining) - 1 = 2, counts min(K, r - 1) = "
            f"[0, 2], got {policy.plan([0, 1], [1, 3])}"
        )

    def test_ties_go_to_the_smaller_k(self):
        # alpha 0.5: E = 1, 1.5, 1.75 for K = 0, 1, 2, and the costs equal them: all tie at 1.
        costs = BatchCosts.uniform(0.0, [1.0, 1.5, 1.75])
        policy = policy_with({0: []}, costs, k_max=2)
        assert policy.plan([0], [20]) == (0, [0]), (
            "equal predicted throughput must keep the smaller K (beat the best by 1e-12 to move)"
        )

    def test_probes_after_a_window_of_plain_rounds(self):
        policy = policy_with({0: [(4, 0)]}, prior_weight=0.0, k_max=4, window=3)
        ks = [policy.plan([0], [50])[0] for _ in range(5)]
        assert ks == [0, 0, 0, 1, 0], (
            f"K = 0 rounds carry no evidence: after `window`=3 of them probe once with K = 1, "
            f"got {ks}"
        )

    @pytest.mark.parametrize(
        "kw,exc",
        [
            ({"costs": [0.1, 1.0]}, TypeError),
            ({"k_max": 0}, ValueError),
            ({"prior_alpha": 1.5}, ValueError),
            ({"window": 0}, ValueError),
        ],
    )
    def test_bad_configuration(self, kw, exc):
        args = {"costs": FLAT} | kw
        with pytest.raises(exc):
            RowLookahead(args.pop("costs"), **args)

    def test_bad_observation(self):
        policy = policy_with({0: []})
        with pytest.raises(KeyError, match="add_row"):
            policy.observe(5, 2, 1)
        with pytest.raises(ValueError):
            policy.observe(0, 2, 3)


class TestSettleRow:
    def test_eos_inside_the_tokens_is_kept_and_ends_the_row(self):
        res = GenerationResult(tokens=[4])
        assert settle_row(res, [5, 9, 6], 10, frozenset({9})) is True
        assert res.tokens == [4, 5, 9] and res.finish_reason == "eos", (
            f"EOS 9 is kept and nothing after it: want [4, 5, 9] 'eos', got {res.tokens} "
            f"{res.finish_reason!r}"
        )

    def test_budget_cuts_and_finishes(self):
        res = GenerationResult(tokens=[4])
        assert settle_row(res, [5, 6, 7], 3, frozenset()) is True
        assert res.tokens == [4, 5, 6] and res.finish_reason == "length", (
            f"budget 3: want [4, 5, 6] 'length', got {res.tokens} {res.finish_reason!r}"
        )
        res = GenerationResult()
        assert settle_row(res, [5], 3, frozenset()) is False, "1 of 3 tokens: the row goes on"


class TestRoundsAreLossless:
    PROMPTS = [[5], list(range(1, 30)), [7, 7, 2], [3] * 12, [30, 1]]

    @pytest.mark.parametrize("schedule", [[3], [0, 2], [0, 0, 4, 1], [2, 0, 0, 0, 3]])
    def test_scheduled_k_equals_speculation_by_definition(self, schedule):
        draft, target = scripted_pair()
        budgets = [25, 10, 1, 17, 20]
        policy = ScheduledPolicy(schedule)
        results = rowwise_speculative_generate(
            self.PROMPTS, draft, target, budgets, lookahead=policy
        )
        for b, (p, r) in enumerate(zip(self.PROMPTS, results, strict=True)):
            want = target.greedy(p, budgets[b])
            assert r.tokens == want, token_mismatch(
                r.tokens,
                want,
                "a row's caches not rewound by its own count, or padding visible",
                what=f"K schedule {schedule}: row {b} against single-sequence greedy",
            )
        # Every row alone, by definition, with the K of each round the batch played.
        played = [k for k, _ in policy.plans]
        for b, (p, r) in enumerate(zip(self.PROMPTS, results, strict=True)):
            ks = played[: len(r.accepted_per_round)] or [0]
            _, accepted, drafted = scheduled_speculation(
                draft._script, target._script, p, budgets[b], ks
            )
            n = min(len(accepted), len(r.accepted_per_round))
            assert r.accepted_per_round[:n] == accepted[:n], (
                f"schedule {schedule}: row {b} accepted {r.accepted_per_round}, want {accepted}: "
                "the draft proposed other tokens than the draft model would from the row's true "
                "context. After K = 0 rounds the draft cache lags more than 2 tokens (draft_lag): "
                "the first draft step must feed each row's last draft_lag tokens; after a "
                "drafting round both caches rewind by K - n_b"
            )
            assert r.drafted_per_round == drafted, (
                f"schedule {schedule}: row {b} verified {r.drafted_per_round} drafts per round, "
                f"want {drafted}: each row counts the plan's counts[b] = min(K, remaining - 1)"
            )
            assert r.accepted_per_round == accepted, (
                f"schedule {schedule}: row {b} accepted {r.accepted_per_round}, want {accepted}"
            )

    def test_plain_rounds_call_no_draft(self):
        draft, target = scripted_pair()
        counted = BatchCounting(draft)
        policy = ScheduledPolicy([0, 0, 2])
        rowwise_speculative_generate([[4, 5], [6]], counted, target, 12, lookahead=policy)
        drafting = sum(1 for k, _ in policy.plans if k)
        calls_after_prefill = counted.calls - 1
        assert calls_after_prefill == 2 * drafting, (
            f"{counted.calls - 1} draft calls after the prefill for {drafting} rounds of K=2 "
            f"and {len(policy.plans) - drafting} of K=0: a K = 0 round must not call the draft"
        )

    def test_first_token_comes_from_the_prefill(self):
        draft, target = scripted_pair()
        counted = BatchCounting(target)
        results = rowwise_speculative_generate([[4, 5, 6], [7]], draft, counted, 1, lookahead=3)
        assert counted.shapes == [(2, 3)], (
            f"max_tokens=1: one batched target prefill of the whole prompts gives every row its "
            f"first token; got target calls {counted.shapes}"
        )
        assert [r.tokens for r in results] == [target.greedy([4, 5, 6], 1), target.greedy([7], 1)]

    def test_mixed_acceptance_rows_in_one_batch(self):
        draft, target = split_pair()
        prompts = [[1, 8, 3], [2, 8, 3]]  # row 0: the draft is always right; row 1: never
        policy = RowLookahead(FLAT, k_max=4, prior_weight=0.0)
        results = rowwise_speculative_generate(prompts, draft, target, 30, lookahead=policy)
        for b, (p, r) in enumerate(zip(prompts, results, strict=True)):
            assert r.tokens == target.greedy(p, 30), f"row {b} differs from target greedy"
        good, bad = results
        assert good.tokens_accepted == good.tokens_drafted > 0, (
            f"row 0's draft is always right: accepted {good.tokens_accepted} of "
            f"{good.tokens_drafted}"
        )
        assert bad.tokens_accepted == 0, (
            f"row 1's draft is always wrong, accepted {bad.tokens_accepted}"
        )
        # Round 1: both rows at the prior 0.5 -> K=2 (3.5/1.3 = 2.69 beats K=1's 2.61, K=3's
        # 2.34). Then alpha 1 and 0 -> K=4 (see test_a_row_that_accepts_everything...).
        assert good.drafted_per_round[:3] == [2, 4, 4], (
            f"K per round {good.drafted_per_round[:3]}, want [2, 4, 4]: plan from each row's own "
            "alpha_hat (update it with observe after every round)"
        )

    @pytest.mark.parametrize("seed", [5, 10])
    def test_tiny_llamas_with_the_policy(self, seed):
        draft, target = tiny_pair(seed)
        prompts, wants = clear_ragged_prompts(target, 6, 16, seed)
        results = rowwise_speculative_generate(
            prompts, draft, target, 16, lookahead=RowLookahead(FLAT, k_max=4)
        )
        for b, (r, want) in enumerate(zip(results, wants, strict=True)):
            i = first_difference(r.tokens, want)
            assert r.tokens == want, (
                f"row {b} differs from target greedy at token {i} (got {r.tokens[i : i + 3]}, "
                f"want {want[i : i + 3]})"
            )

    def test_calls_and_counts(self):
        draft, target = scripted_pair()
        results = rowwise_speculative_generate([[4, 5], [6]], draft, target, [9, 0], lookahead=2)
        r, empty = results
        assert empty.tokens == [] and empty.target_calls == 0, (
            "a row with max_tokens 0 costs nothing"
        )
        assert r.target_calls == 1 + r.rounds, (
            f"{r.target_calls} target calls for {r.rounds} rounds: one prefill + one per round"
        )
        # Alone in the batch, the row's count is the round's K: K draft calls per round.
        assert r.draft_calls == 1 + sum(r.drafted_per_round), (
            f"{r.draft_calls} draft calls for drafts {r.drafted_per_round}: one prefill (the "
            "prompt has 2 tokens) + K per round (none in a K = 0 round)"
        )


class TestSampled:
    def test_rows_follow_the_targets_distribution(self):
        # 2 prompts x 900 rows in ONE batch, each row with its own key; 4 tokens: the prefill's
        # first, then rounds of K = 3 that verify 2 drafts (the budget), then K = 0.
        probs = random_markov(3, seed=7)
        target, draft = BatchMarkov(probs), BatchMarkov(perturbed(probs, 0.6, seed=8))
        prompts = [[1], [0, 2]] * 900
        results = rowwise_speculative_generate(
            prompts,
            draft,
            target,
            4,
            lookahead=ScheduledPolicy([3, 0]),
            temperature=1.0,
            key=mx.random.key(11),
        )
        for b, last in enumerate([1, 2]):
            assert_follows(
                Counter(tuple(r.tokens) for r in results[b::2]),
                exact_sequence_distribution(probs, last, 4, temperature=1.0),
                what=f"prompt {prompts[b]}: each row's 4 sampled tokens must follow the target's "
                "joint law (per-row keys: split each row's key every round, a fresh subkey for "
                "every draft step, a separate one for verification)",
            )

    def test_first_token_is_sampled_from_the_target(self):
        probs = random_markov(4, seed=3)
        target = BatchMarkov(probs)
        keys = [mx.random.key(i) for i in range(1500)]
        _, first = start_rows(None, target, [[2]] * 1500, range(1500), keys, temperature=1.0)
        assert_follows(
            Counter((t,) for t in first),
            exact_sequence_distribution(probs, 2, 1, temperature=1.0),
            what="start_rows' first tokens must be drawn from the target's prefill logits, each "
            "row with a subkey of its own key",
        )


class TestBadInput:
    @pytest.mark.parametrize(
        "prompts,kw,exc",
        [
            ([[1], []], {}, ValueError),
            ([[1]], {"lookahead": -1}, ValueError),
            ([[1]], {"lookahead": "4"}, TypeError),
            ([[1]], {"temperature": -1.0}, ValueError),
        ],
    )
    def test_clear_error_before_any_call(self, prompts, kw, exc):
        draft, target = scripted_pair()
        counted = BatchCounting(target)
        with pytest.raises(exc):
            rowwise_speculative_generate(prompts, draft, counted, 5, **kw)
        assert counted.calls == 0, "bad input must be refused before any model runs"
