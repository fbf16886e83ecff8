"""Week 2 Day 3 - AdaptiveSpeculator (book chapter week2-03-adaptive)."""

import copy
import math

import numpy as np
import pytest

from specdec.adaptive import AdaptiveSpeculator
from specdec.simulator import simulate_generation
from specdec_course.testing.baselines import HeuristicSpeculator

pytestmark = [pytest.mark.w2d3, pytest.mark.timeout(30)]

TARGET_MS = 10.0
# A policy or simulator that never finishes fails after 30 s (pytest-timeout)
# instead of hanging the run; the reference's longest run here takes ~1 s.
# On a timeout check simulate_generation first: uv run specdec test --week 2 --day 1


# The predicted speedup and the best fixed K, computed here independently of
# specdec.theory (series form of E, exhaustive search over K).
def predicted(alpha: float, k: int, c: float, v: float = 1.0) -> float:
    return math.fsum(alpha**i for i in range(k + 1)) / (k * c + v)


def best_fixed_k(alpha: float, c: float, k_max: int = 16) -> int:
    return max(range(1, k_max + 1), key=lambda k: (predicted(alpha, k, c), -k))


def run(agreement, c, tokens, seed, policy=None, lookahead=4):
    """One simulated generation with draft cost c (target 10 ms, verify = one target step)."""
    return simulate_generation(tokens, agreement=agreement, lookahead=lookahead, adaptive=policy,
                               target_ms=TARGET_MS, draft_ms=c * TARGET_MS, seed=seed)


def steady_lookaheads(result, burn_in: int) -> np.ndarray:
    """The K of each round after ``burn_in`` rounds, without the final rounds cut short by max_tokens."""
    ks = list(result.lookaheads)
    while len(ks) > 1 and ks[-1] < ks[-2]:
        ks.pop()
    return np.array(ks[burn_in:-1])


def feed(spec, rounds):
    """Report rounds given as (accepted, drafted) pairs; returns the K after each."""
    return [spec.update_lookahead(n / k, drafted=k) for n, k in rounds]


class TestConstruction:
    def test_defaults(self):
        spec = AdaptiveSpeculator()
        assert spec.lookahead == 4, "the default initial lookahead is 4"
        assert isinstance(spec.lookahead, int), (
            f"lookahead must be a Python int, got {type(spec.lookahead).__name__}: convert any "
            "computed K with int()"
        )
        assert AdaptiveSpeculator(7, max_lookahead=10).lookahead == 7, (
            "the first argument is initial_lookahead: a new speculator must start at K = 7"
        )

    @pytest.mark.parametrize("kwargs", [
        dict(initial_lookahead=0),                                   # below min_lookahead = 1
        dict(initial_lookahead=20),                                  # above max_lookahead = 16
        dict(min_lookahead=5, max_lookahead=3, initial_lookahead=4),  # bounds out of order
        dict(min_lookahead=-1),
        dict(max_lookahead=0, min_lookahead=0, initial_lookahead=0),  # K can never be positive
        dict(window=0),
        dict(draft_cost=-0.1),
        dict(draft_cost=float("nan")),
        dict(draft_cost=0.1, verify_cost=0.0),
    ], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
    def test_rejects_bad_configuration(self, kwargs):
        with pytest.raises(ValueError):
            AdaptiveSpeculator(**kwargs)

    @pytest.mark.parametrize("kwargs", [dict(initial_lookahead=4.0), dict(window=2.5), dict(max_lookahead="8")],
                             ids=["float-K", "float-window", "str-max"])
    def test_rejects_non_integers(self, kwargs):
        with pytest.raises(TypeError):
            AdaptiveSpeculator(**kwargs)


class TestUpdateValidation:
    @pytest.mark.parametrize("rate", [-0.25, 1.5, float("nan"), float("inf")])
    def test_rejects_rates_outside_unit_interval(self, rate):
        spec = AdaptiveSpeculator()
        with pytest.raises(ValueError):
            spec.update_lookahead(rate)
        assert spec.lookahead == 4, "a rejected update must not change the state"

    def test_rejects_rate_inconsistent_with_drafted(self):
        with pytest.raises(ValueError):
            AdaptiveSpeculator().update_lookahead(0.3, drafted=4)  # 1.2 accepted tokens?
        with pytest.raises(ValueError):
            AdaptiveSpeculator().update_lookahead(0.5, drafted=-2)

    def test_returns_the_new_lookahead(self):
        spec = AdaptiveSpeculator(window=2)
        for fraction in (1.0, 1.0, 0.0, 0.25, 1.0, 1.0):
            k = spec.lookahead
            new = spec.update_lookahead(round(fraction * k) / k, drafted=k)
            assert new == spec.lookahead, "update_lookahead must return the new lookahead"
        spec.update_lookahead(0.5)  # drafted defaults to the current lookahead


class TestEstimator:
    def test_none_before_evidence(self):
        assert AdaptiveSpeculator().estimated_alpha is None, "no rounds reported yet: estimated_alpha is None"

    def test_hand_computed_window(self):
        spec = AdaptiveSpeculator(window=3, max_lookahead=8)
        # 3 of 4 (rejection), 4 of 4 (no rejection), 0 of 4 (rejection): A = 7, R = 2.
        feed(spec, [(3, 4), (4, 4), (0, 4)])
        assert spec.estimated_alpha == pytest.approx(7 / 9, abs=1e-12), (
            f"got {spec.estimated_alpha}: α̂ = accepted / (accepted + rounds ending in a rejection) = 7 / 9 "
            "(the mean of the per-round rates, 7/12, is biased low)"
        )
        # A 4th round pushes the first out of the window of 3: (4/4), (0/4), (2/4) -> 6 / (6 + 2).
        k = spec.lookahead
        feed(spec, [(min(2, k - 1), k)])
        want = (4 + 0 + min(2, k - 1)) / (4 + 0 + min(2, k - 1) + 2)
        assert spec.estimated_alpha == pytest.approx(want, abs=1e-12), "only the last `window` rounds count"

    def test_unbiased_where_the_mean_rate_is_not(self):
        # Rounds of K = 8 at α = 0.6: accepted = min(K, #successes before the first failure).
        rng = np.random.default_rng(0)
        accepted = np.minimum(rng.geometric(1 - 0.6, size=1000) - 1, 8)
        spec = AdaptiveSpeculator(8, window=1000, max_lookahead=8)
        for n in accepted:
            spec.update_lookahead(n / 8, drafted=8)
        # ~2400 Bernoulli trials: the standard error of α̂ is ~0.01; 0.04 is 4 of them.
        assert abs(spec.estimated_alpha - 0.6) < 0.04, (
            f"estimated α {spec.estimated_alpha:.3f} for a true α of 0.6; the mean per-round rate here is "
            f"{np.mean(accepted / 8):.3f}: rounds stop at the first rejection, so accepted/drafted underestimates α"
        )


CONFIGS = [
    dict(),
    dict(initial_lookahead=1, min_lookahead=1, max_lookahead=3, window=1),
    dict(initial_lookahead=6, min_lookahead=2, max_lookahead=9, window=4, draft_cost=0.1),
    dict(initial_lookahead=3, min_lookahead=0, max_lookahead=12, window=3, draft_cost=0.4, verify_cost=1.2),
    dict(initial_lookahead=0, min_lookahead=0, max_lookahead=5, window=2),
]


class TestBounds:
    @pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
    def test_random_inputs_stay_within_bounds(self, config):
        rng = np.random.default_rng(1)
        spec = AdaptiveSpeculator(**config)
        lo, hi = config.get("min_lookahead", 1), config.get("max_lookahead", 16)
        for step in range(600):
            k = spec.lookahead
            assert isinstance(k, int) and lo <= k <= hi, f"lookahead {k} left [{lo}, {hi}] after {step} updates"
            if k == 0:
                new = spec.update_lookahead(0.0, drafted=0)
            else:
                # Bursts of good and bad luck, so both bounds are pushed on.
                n = k if (step // 50) % 2 else int(rng.integers(0, max(1, k // 3)))
                new = spec.update_lookahead(n / k, drafted=k)
            assert new == spec.lookahead and lo <= new <= hi, (
                f"update returned {new}, outside [{lo}, {hi}]: keep K within "
                "[min_lookahead, max_lookahead]")

    @pytest.mark.parametrize("costs", [{}, dict(draft_cost=0.3)], ids=["cost-free", "cost-aware"])
    def test_never_below_one_by_default(self, costs):
        spec = AdaptiveSpeculator(**costs)
        for _ in range(100):
            k = spec.lookahead
            spec.update_lookahead(0.0, drafted=k)
        assert spec.lookahead == 1, f"after 100 rejected rounds K should sit at min_lookahead = 1, got {spec.lookahead}"

    @pytest.mark.parametrize("costs", [{}, dict(draft_cost=0.3)], ids=["cost-free", "cost-aware"])
    def test_zero_only_when_allowed_and_then_probes(self, costs):
        spec = AdaptiveSpeculator(min_lookahead=0, window=4, **costs)
        for _ in range(100):
            k = spec.lookahead
            if k == 0:
                break
            spec.update_lookahead(0.0, drafted=k)
        assert spec.lookahead == 0, "with min_lookahead=0 and nothing ever accepted, K must reach 0"
        for _ in range(4):  # `window` rounds without speculation
            spec.update_lookahead(0.0, drafted=0)
        assert spec.lookahead >= 1, "after `window` rounds at K = 0 the speculator must probe with K >= 1 again"

    # With α̂ = 1 and c = 0.02 each extra draft token is clearly worth it:
    # S = (K + 1) / (0.02 K + 1), e.g. 12/1.22 = 9.84 at K = 11 and 13/1.24 = 10.48 at K = 12.
    @pytest.mark.parametrize("costs", [{}, dict(draft_cost=0.02)], ids=["cost-free", "cost-aware"])
    def test_full_acceptance_climbs_to_the_maximum(self, costs):
        spec = AdaptiveSpeculator(max_lookahead=12, **costs)
        for _ in range(100):
            k = spec.lookahead
            spec.update_lookahead(1.0, drafted=k)
        assert spec.lookahead == 12, f"every draft accepted for 100 rounds: K should reach 12, got {spec.lookahead}"


class TestMonotoneResponse:
    @pytest.mark.parametrize("costs", [{}, dict(draft_cost=0.1), dict(draft_cost=0.4, verify_cost=1.1)],
                             ids=["cost-free", "cost-aware", "cost-aware-v"])
    def test_more_acceptance_never_gives_a_smaller_k(self, costs):
        rng = np.random.default_rng(2)
        for trial in range(40):
            spec = AdaptiveSpeculator(int(rng.integers(1, 9)), window=int(rng.integers(1, 6)), **costs)
            for _ in range(int(rng.integers(0, 25))):  # a random history
                k = spec.lookahead
                spec.update_lookahead(int(rng.integers(0, k + 1)) / k, drafted=k)
            k = spec.lookahead
            outcomes = []
            for n in range(k + 1):
                twin = copy.deepcopy(spec)
                outcomes.append(twin.update_lookahead(n / k, drafted=k))
            assert all(a <= b for a, b in zip(outcomes, outcomes[1:])), (
                f"from the same state, accepting 0..{k} of {k} drafts gave K = {outcomes}: "
                "more acceptance must never lead to a smaller K"
            )


# The simulated workloads below are seeded, so the tests are deterministic. The
# thresholds leave room for sampling noise: the reference's K statistics over
# 20 seeds stay well inside them (documented next to each).
class TestConvergence:
    @pytest.mark.parametrize("alpha,c,tokens", [(0.9, 0.05, 3000), (0.6, 0.25, 1000)], ids=["high", "low"])
    def test_settles_near_the_optimal_lookahead(self, alpha, c, tokens):
        k_star = best_fixed_k(alpha, c)  # 13 for (0.9, 0.05), 2 for (0.6, 0.25)
        assert k_star == {0.9: 13, 0.6: 2}[alpha], (
            f"test setup: best_fixed_k({alpha}, {c}) = {k_star}, not the K* the test was built on"
        )
        result = run(alpha, c, tokens, seed=1, policy=AdaptiveSpeculator(draft_cost=c))
        ks = steady_lookaheads(result, burn_in=50)
        # Reference over 20 seeds: median within ±1 of K*.
        assert abs(np.median(ks) - k_star) <= 2, (
            f"α={alpha}, c={c}: the best K is {k_star}, but after 50 rounds the median K was {np.median(ks)} "
            f"(last K's {ks[-10:].tolist()}). Move K one step at a time toward the optimum, and "
            "estimate α with accepted/(accepted + rejections), not the mean rate"
        )
        near = np.mean(np.abs(ks - k_star) <= 3)
        assert near >= 0.8, f"K was within ±3 of the best K {k_star} in only {near:.0%} of rounds"


class TestStability:
    def test_no_oscillation_at_constant_alpha(self):
        # α = 0.8, c = 0.1: K* = 6, and speedups within 1% for K = 5..7.
        result = run(0.8, 0.1, 2000, seed=3, policy=AdaptiveSpeculator(draft_cost=0.1))
        ks = steady_lookaheads(result, burn_in=50)
        steps = np.diff(ks)
        changes = np.count_nonzero(steps)
        # Stable means: (1) K moves one step at a time, (2) in at most 20% of
        # rounds (reference over 20 seeds: at most 12.4%), (3) never straight
        # back (an up-step followed at once by a down-step, or vice versa; the
        # reference never does it).
        assert np.abs(steps).max() <= 1, f"K jumped by {np.abs(steps).max()} at constant α: move one step at a time"
        assert changes <= 0.2 * len(steps), (
            f"K changed in {changes} of {len(steps)} rounds at constant α: add hysteresis (only move when the "
            "predicted gain beats the GAIN_MARGIN) and average over a window"
        )
        reversals = int(np.sum(steps[:-1] * steps[1:] < 0))
        assert reversals <= 2, f"K reversed direction on consecutive rounds {reversals} times: it oscillates"


class TestRegimeChange:
    def test_reacts_when_agreement_drops(self):
        # α = 0.9 for the first 1000 tokens, then 0.3 (c = 0.05: K* = 13, then 2).
        result = run(lambda n: 0.9 if n < 1000 else 0.3, 0.05, 1400, seed=4,
                     policy=AdaptiveSpeculator(draft_cost=0.05))
        starts = np.concatenate([[0], np.cumsum(np.array(result.accepted) + 1)[:-1]])
        first = int(np.argmax(starts >= 1000))  # first round after the change
        ks = np.array(result.lookaheads)
        before = ks[first - 1]
        assert before >= 8, f"at α = 0.9 (best K 13) K should be large before the change, got {before}"
        # Reference over 30 seeds: K drops within 7 rounds, and is <= 5 from 30 rounds on.
        dropped = np.nonzero(ks[first:first + 10] < before)[0]
        assert len(dropped), f"α fell from 0.9 to 0.3 but K stayed at {before} for 10 rounds: {ks[first:first + 10]}"
        later = steady_lookaheads(result, burn_in=first + 30)
        assert later.max() <= 6 and np.median(later) <= 3, (
            f"30 rounds after α fell to 0.3 (best K 2), K should be small, got {later.tolist()[:20]}"
        )


class TestThroughput:
    # ≥ 0.95× the best fixed K, measured on the same simulated workload. The
    # run lengths keep the standard error of each speedup near 1%, so the 5%
    # margin is > 3 standard errors of the difference (the reference comes out
    # at 0.98-1.02).
    @pytest.mark.parametrize("alpha,c,tokens", [(0.9, 0.05, 12_000), (0.4, 0.3, 5000)], ids=["high", "low"])
    def test_close_to_the_best_fixed_lookahead(self, alpha, c, tokens):
        k_star = best_fixed_k(alpha, c)
        fixed = run(alpha, c, tokens, seed=10, lookahead=k_star).speedup
        adaptive = run(alpha, c, tokens, seed=11, policy=AdaptiveSpeculator(draft_cost=c)).speedup
        assert adaptive >= 0.95 * fixed, (
            f"α={alpha}, c={c}: adaptive speedup {adaptive:.3f} < 95% of the best fixed K={k_star} "
            f"({fixed:.3f}; predicted {predicted(alpha, k_star, c):.3f})"
        )

    def test_beats_the_hf_heuristic_when_drafting_is_dear(self):
        # α = 0.5, c = 0.4: only K = 1 pays (S = 1.5/1.4 = 1.071; K = 2: 1.75/1.8 = 0.97). The
        # +2/-1 rule ignores the cost and keeps drifting to K ≈ 2.
        adaptive = run(0.5, 0.4, 4000, seed=12, policy=AdaptiveSpeculator(draft_cost=0.4)).speedup
        heuristic = run(0.5, 0.4, 4000, seed=12, policy=HeuristicSpeculator()).speedup
        assert adaptive > heuristic * 1.03, (
            f"the cost-aware speculator ({adaptive:.3f}) should clearly beat the HF +2/-1 heuristic "
            f"({heuristic:.3f}) when the draft is dear (c = 0.4)"
        )


class TestDecoderIntegration:
    """SpeculativeDecoder(..., adaptive=...) asks the speculator for K every round."""

    def test_lookahead_grows_when_everything_is_accepted_and_output_stays_lossless(self):
        import mlx.core as mx

        from specdec.decoder import SpeculativeDecoder
        from specdec_course.testing import tiny_pair
        from tests.w1_helpers import mlx_lm_greedy

        draft, target = tiny_pair(6, noise=0.0)  # identical models: every draft token is accepted
        policy = AdaptiveSpeculator(2, min_lookahead=1, max_lookahead=8, window=2)
        result = SpeculativeDecoder(draft, target, 2, adaptive=policy).generate(mx.array([1, 2, 3]), 60)
        assert result.tokens == mlx_lm_greedy(target, [1, 2, 3], 60), "adaptive K must not change greedy output"
        used = result.drafted_per_round
        assert used[0] == 2, f"the first round must use the speculator's initial lookahead 2, used {used[0]}"
        assert max(used) > 2, (
            f"lookaheads used per round {used}: with every token accepted the decoder must read "
            "adaptive.lookahead each round and report each round's acceptance to update_lookahead"
        )
        assert all(k <= 8 for k in used), f"lookahead exceeded max_lookahead=8: {used}"


class TestEveryBadArgument:
    """Every rejected value of every argument, with all the other arguments given and valid."""

    GOOD = dict(initial_lookahead=3, min_lookahead=1, max_lookahead=8, window=4, draft_cost=0.1, verify_cost=1.2)
    INTS = ["initial_lookahead", "min_lookahead", "max_lookahead", "window"]
    BAD_INTS = [-1, 2.5, "4", True, None, float("nan")]
    COSTS = ["draft_cost", "verify_cost"]
    BAD_COSTS = [-0.1, float("nan"), float("inf"), float("-inf"), "0.1", True]

    @pytest.mark.parametrize("name", INTS)
    @pytest.mark.parametrize("bad", BAD_INTS, ids=repr)
    def test_integer_settings(self, name, bad):
        with pytest.raises((TypeError, ValueError)):
            AdaptiveSpeculator(**{**self.GOOD, name: bad})

    @pytest.mark.parametrize("name", COSTS)
    @pytest.mark.parametrize("bad", BAD_COSTS, ids=repr)
    def test_costs(self, name, bad):
        with pytest.raises((TypeError, ValueError)):
            AdaptiveSpeculator(**{**self.GOOD, name: bad})

    @pytest.mark.parametrize("rate", [-0.25, 1.5, float("nan"), float("inf"), float("-inf"), "0.5", None, True],
                             ids=repr)
    @pytest.mark.parametrize("drafted", [None, 4, 0])  # 0: an idle round still checks its rate
    @pytest.mark.parametrize("costs", [False, True])
    def test_update_rate(self, rate, drafted, costs):
        spec = AdaptiveSpeculator(4, window=1, **(dict(draft_cost=0.1, verify_cost=1.2) if costs else {}))
        with pytest.raises((TypeError, ValueError)):
            spec.update_lookahead(rate, drafted=drafted)
        assert spec.lookahead == 4 and spec.estimated_alpha is None, "a rejected update must not change the state"

    @pytest.mark.parametrize("drafted", [-1, 2.5, "4", True, float("nan")], ids=repr)
    @pytest.mark.parametrize("costs", [False, True])
    def test_update_drafted(self, drafted, costs):
        spec = AdaptiveSpeculator(4, window=1, **(dict(draft_cost=0.1, verify_cost=1.2) if costs else {}))
        with pytest.raises((TypeError, ValueError)):
            spec.update_lookahead(0.5, drafted=drafted)
        assert spec.lookahead == 4 and spec.estimated_alpha is None, "a rejected update must not change the state"


class TestDecisionTiming:
    """K changes only once the window is full: each decision needs `window` rounds of evidence."""

    @pytest.mark.parametrize("costs", [{}, dict(draft_cost=0.05, verify_cost=1.0)], ids=["threshold", "cost-aware"])
    @pytest.mark.parametrize("window", [2, 4])
    def test_no_decision_before_the_window_is_full(self, costs, window):
        spec = AdaptiveSpeculator(4, window=window, max_lookahead=16, **costs)
        for r in range(window - 1):
            k = spec.update_lookahead(1.0, drafted=4)
            assert k == 4, (
                f"K changed to {k} after {r + 1} of window={window} rounds: decide only once the window "
                "holds `window` rounds"
            )
        assert spec.update_lookahead(1.0, drafted=4) == 5, (
            "with the window full of fully accepted rounds K must take one step up to 5"
        )
