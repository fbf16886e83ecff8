"""Week 2 Day 1 - speedup theory and a simulator (book chapter week2-01-theory)."""

import math

import mlx.core as mx
import numpy as np
import pytest

from specdec.simulator import Event, SimulationResult, simulate_generation, synthetic_pair, verify_token
from specdec.theory import (
    acceptance_rate,
    break_even_alpha,
    expected_tokens_per_round,
    optimal_lookahead,
    speedup,
)
from specdec_course.testing.stats import assert_follows, binomial_bound

pytestmark = [pytest.mark.w2d1, pytest.mark.timeout(20)]


# Independent yardsticks: the series form of E and a brute-force search, written
# here so that no expected value comes from the code under test.
def series_e(alpha: float, k: int) -> float:
    """1 + alpha + ... + alpha^K, summed term by term."""
    return math.fsum(alpha**i for i in range(k + 1))


def series_s(alpha: float, k: int, c: float, v: float = 1.0) -> float:
    return series_e(alpha, k) / (k * c + v)


def brute_force_k(alpha: float, c: float, v: float = 1.0, k_max: int = 32) -> int:
    """The best K >= 1 by exhaustive search; 0 when none beats plain decoding (speedup 1)."""
    best_k, best_s = 0, 1.0
    for k in range(1, k_max + 1):
        s = series_s(alpha, k, c, v)
        if s > best_s * (1 + 1e-12):
            best_k, best_s = k, s
    return best_k


class TestExpectedTokensPerRound:
    def test_hand_computed_values(self):
        # 1 + 0.8 + 0.64 + 0.512 + 0.4096 = 3.3616
        assert expected_tokens_per_round(0.8, 4) == pytest.approx(3.3616, abs=1e-12), (
            "E(α, K) must count the bonus/correction token: E(0.8, 4) = 1 + 0.8 + ... + 0.8^4 = 3.3616"
        )
        # 1 + 0.5 + 0.25 = 1.75
        assert expected_tokens_per_round(0.5, 2) == pytest.approx(1.75, abs=1e-12), (
            "E(0.5, 2) = 1 + 0.5 + 0.25 = 1.75: sum α^0 .. α^K (K + 1 terms; the first is the "
            "token every round emits)"
        )
        assert expected_tokens_per_round(0.3, 1) == pytest.approx(1.3, abs=1e-12), "E(α, 1) = 1 + α"

    def test_zero_acceptance_still_emits_one_token(self):
        for k in (0, 1, 5, 32):
            assert expected_tokens_per_round(0.0, k) == 1.0, (
                f"E(0, {k}) must be 1: every round emits the correction token even if no draft is accepted"
            )

    def test_zero_lookahead_is_plain_decoding(self):
        for alpha in (0.0, 0.4, 1.0):
            assert expected_tokens_per_round(alpha, 0) == 1.0, f"E({alpha}, 0) must be 1 (no drafts, one token)"

    def test_full_acceptance_gives_k_plus_one(self):
        for k in (0, 1, 4, 10):
            assert expected_tokens_per_round(1.0, k) == pytest.approx(k + 1, abs=1e-12), (
                f"E(1, {k}) must be K + 1 = {k + 1}: handle α = 1 without dividing 0 by 0"
            )

    @pytest.mark.parametrize("gap", [1e-12, 3e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-4])
    def test_continuous_near_one(self, gap):
        alpha = 1.0 - gap
        got = expected_tokens_per_round(alpha, 4)
        want = series_e(alpha, 4)  # 5 - 10·gap + O(gap^2)
        assert math.isfinite(got) and abs(got - want) < 1e-9, (
            f"E(1 - {gap:g}, 4) = {got!r} but should be {want!r}: (1 - α^(K+1)) / (1 - α) loses all "
            "precision as α -> 1; use a series or expm1/log1p there"
        )

    def test_matches_series_on_a_grid(self):
        for alpha in np.linspace(0, 1, 21):
            for k in (0, 1, 2, 3, 7, 16):
                assert expected_tokens_per_round(float(alpha), k) == pytest.approx(series_e(alpha, k), rel=1e-12), (
                    f"E({alpha:.2f}, {k}) disagrees with 1 + α + ... + α^K"
                )

    def test_increasing_in_alpha_and_k(self):
        alphas = np.linspace(0.05, 0.95, 10)
        for k in (1, 4, 9):
            values = [expected_tokens_per_round(float(a), k) for a in alphas]
            assert np.all(np.diff(values) > 0), f"E(α, {k}) must increase with α: {values}"
        for alpha in (0.3, 0.8):
            values = [expected_tokens_per_round(alpha, k) for k in range(10)]
            assert np.all(np.diff(values) > 0), f"E({alpha}, K) must increase with K: {values}"

    @pytest.mark.parametrize("alpha", [-0.1, 1.1, float("nan")])
    def test_rejects_bad_alpha(self, alpha):
        with pytest.raises(ValueError):
            expected_tokens_per_round(alpha, 3)

    def test_rejects_bad_k(self):
        with pytest.raises(ValueError):
            expected_tokens_per_round(0.5, -1)
        with pytest.raises((TypeError, ValueError)):
            expected_tokens_per_round(0.5, 2.5)


class TestAcceptanceRate:
    def test_identical_distributions_always_accept(self):
        p = np.array([0.1, 0.2, 0.3, 0.4])
        assert acceptance_rate(p, p) == pytest.approx(1.0, abs=1e-12), "identical p and q must give α = Σ min(p, q) = 1"

    def test_disjoint_distributions_never_accept(self):
        assert acceptance_rate(np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.25, 0.75])) == 0.0, (
            "p and q with disjoint supports must give α = 0"
        )

    def test_three_token_example(self):
        # min(0.5, 0.2) + min(0.3, 0.3) + min(0.2, 0.5) = 0.2 + 0.3 + 0.2
        p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
        assert acceptance_rate(p, q) == pytest.approx(0.7, abs=1e-12), (
            "α = Σ min(p, q): expected 0.7 for p = [0.5, 0.3, 0.2], q = [0.2, 0.3, 0.5]"
        )
        assert acceptance_rate(q, p) == pytest.approx(0.7, abs=1e-12), "Σ min(p, q) is symmetric"

    def test_accepts_mlx_arrays(self):
        p, q = mx.array([0.6, 0.4, 0.0]), mx.array([0.25, 0.25, 0.5])
        got = acceptance_rate(p, q)
        assert isinstance(got, float), f"return a Python float, got {type(got).__name__}"
        assert got == pytest.approx(0.5, abs=1e-6), (  # 0.25 + 0.25 + 0
            f"acceptance_rate of mlx arrays gave {got}, expected Σ min(p, q) = 0.25 + 0.25 + 0 "
            "= 0.5: convert mlx inputs to numpy and treat them like numpy ones"
        )

    def test_rejects_mismatched_shapes(self):
        with pytest.raises(ValueError):
            acceptance_rate(np.array([0.5, 0.5]), np.array([0.2, 0.3, 0.5]))
        with pytest.raises(ValueError):
            acceptance_rate(np.full((2, 2), 0.25), np.full((2, 2), 0.25))

    def test_rejects_non_distributions(self):
        with pytest.raises(ValueError):
            acceptance_rate(np.array([0.5, 0.6]), np.array([0.5, 0.5]))  # sums to 1.1
        with pytest.raises(ValueError):
            acceptance_rate(np.array([1.2, -0.2]), np.array([0.5, 0.5]))  # negative entry


class TestSpeedup:
    def test_hand_computed(self):
        # E(0.8, 4) / (4·0.1 + 1) = 3.3616 / 1.4 = 2.40114285714...
        assert speedup(0.8, 4, 0.1) == pytest.approx(2.4011428571428571, rel=1e-12), (
            "S = E(α, K) / (K·c + v): expected 3.3616 / 1.4 = 2.40114 for α=0.8, K=4, c=0.1, v=1"
        )
        # E(0.5, 2) / (2·0.25 + 1.25) = 1.75 / 1.75 = 1
        assert speedup(0.5, 2, 0.25, 1.25) == pytest.approx(1.0, abs=1e-12), "v is the verify cost: 1.75 / 1.75 = 1"

    def test_free_draft_gives_e_over_v(self):
        assert speedup(0.8, 4, 0.0) == pytest.approx(3.3616, rel=1e-12), "with c = 0 the speedup is E / v"
        assert speedup(0.8, 4, 0.0, 2.0) == pytest.approx(3.3616 / 2, rel=1e-12), "with c = 0 the speedup is E / v"

    def test_zero_lookahead(self):
        assert speedup(0.7, 0, 0.3, 1.25) == pytest.approx(0.8, rel=1e-12), "K = 0: E = 1 and cost v, so S = 1/v"

    def test_decreasing_in_cost_and_increasing_in_alpha(self):
        s_c = [speedup(0.8, 4, c) for c in np.linspace(0, 1, 11)]
        assert np.all(np.diff(s_c) < 0), f"a dearer draft (larger c) must lower the speedup: {s_c}"
        s_a = [speedup(float(a), 4, 0.1) for a in np.linspace(0, 1, 11)]
        assert np.all(np.diff(s_a) > 0), f"more acceptance (larger α) must raise the speedup: {s_a}"

    def test_rejects_bad_costs(self):
        for c, v in [(-0.1, 1.0), (float("nan"), 1.0), (0.1, 0.0), (0.1, -1.0), (0.1, float("inf"))]:
            with pytest.raises(ValueError):
                speedup(0.5, 2, c, v)


class TestOptimalLookahead:
    # (alpha, c, best K): S(K) by hand for the small cases,
    #   α=0.6, c=0.25: S(1) = 1.6/1.25 = 1.280, S(2) = 1.96/1.5 = 1.307, S(3) = 2.176/1.75 = 1.243 -> 2
    #   α=0.4, c=0.2:  S(1) = 1.4/1.2 = 1.167,  S(2) = 1.56/1.4 = 1.114 -> 1
    #   α=0.3, c=0.05: S(1) = 1.3/1.05 = 1.238, S(2) = 1.39/1.1 = 1.264, S(3) = 1.417/1.15 = 1.232 -> 2
    #   α=0.1, c=0.5:  S(1) = 1.1/1.5 < 1: no K wins -> 0
    # and by brute force (series_s below) for the large ones.
    GRID = [(0.6, 0.25, 2), (0.4, 0.2, 1), (0.3, 0.05, 2), (0.1, 0.5, 0),
            (0.8, 0.1, 6), (0.9, 0.05, 13), (0.95, 0.02, 31)]

    @pytest.mark.parametrize("alpha,c,best", GRID)
    def test_grid(self, alpha, c, best):
        assert brute_force_k(alpha, c) == best, (  # the table itself is right
            f"test setup: brute force gives K={brute_force_k(alpha, c)} for α={alpha}, c={c}, "
            f"but GRID says {best}"
        )
        got = optimal_lookahead(alpha, c)
        assert got == best, (
            f"optimal_lookahead({alpha}, {c}) = {got}, expected {best}: speedups "
            + ", ".join(f"K={k}: {series_s(alpha, k, c):.4f}" for k in range(max(1, best - 1), best + 2))
        )

    def test_ties_go_to_the_smaller_k(self):
        # α=0.5, c=0.2: S(1) = 1.5/1.2 = 1.25 = 1.75/1.4 = S(2)
        assert optimal_lookahead(0.5, 0.2) == 1, "S(1) = S(2) = 1.25 for α=0.5, c=0.2: ties go to the smaller K"

    def test_k_max_caps_the_search(self):
        assert optimal_lookahead(1.0, 0.0) == 32, "with α = 1 and a free draft, more is always better: K = k_max"
        assert optimal_lookahead(0.9, 0.05, k_max=8) == 8, (
            "the best K for α=0.9, c=0.05 is 13, beyond k_max=8: search only K = 1 .. k_max, "
            "so the answer is 8"
        )
        assert optimal_lookahead(0.9, 0.05, k_max=0) == 0, (
            "k_max=0 allows no drafting at all: return K = 0"
        )

    def test_zero_means_do_not_speculate(self):
        assert optimal_lookahead(0.0, 0.1) == 0, "α = 0 never pays: return K = 0"
        assert optimal_lookahead(0.0, 0.0) == 0, "α = 0, c = 0: every K has speedup exactly 1 - a tie, so K = 0"
        # v = 1.2: S(1) = 1.2/1.25 = 0.96, S(2) = 1.24/1.3 = 0.95: all below 1 (but above 1/v).
        assert optimal_lookahead(0.2, 0.05, 1.2) == 0, (
            "when no K >= 1 reaches speedup 1, return 0 (plain decoding), even if 1/v is smaller still"
        )

    def test_matches_brute_force_on_a_grid(self):
        for alpha in (0.2, 0.5, 0.7, 0.85, 0.97):
            for c in (0.01, 0.1, 0.3):
                for v in (1.0, 1.3):
                    want = brute_force_k(alpha, c, v, k_max=16)
                    got = optimal_lookahead(alpha, c, v, k_max=16)
                    assert got == want, f"optimal_lookahead({alpha}, {c}, {v}, k_max=16) = {got}, expected {want}"

    def test_non_decreasing_in_alpha_non_increasing_in_cost(self):
        ks = [optimal_lookahead(float(a), 0.1) for a in np.linspace(0, 0.99, 34)]
        assert all(x <= y for x, y in zip(ks, ks[1:])), f"better drafts never call for a shorter lookahead: {ks}"
        ks = [optimal_lookahead(0.85, float(c)) for c in np.linspace(0.0, 1.0, 21)]
        assert all(x >= y for x, y in zip(ks, ks[1:])), f"dearer drafts never call for a longer lookahead: {ks}"

    def test_rejects_bad_arguments(self):
        with pytest.raises(ValueError):
            optimal_lookahead(1.5, 0.1)
        with pytest.raises(ValueError):
            optimal_lookahead(0.5, -0.1)
        with pytest.raises((TypeError, ValueError)):
            optimal_lookahead(0.5, 0.1, k_max=-1)


class TestBreakEvenAlpha:
    def test_hand_computed(self):
        # K=1, c=0.5, v=1: (1 + α) / 1.5 = 1  ->  α = 0.5
        assert break_even_alpha(1, 0.5) == pytest.approx(0.5, abs=1e-9), (
            "K=1, c=0.5, v=1: (1 + α) / 1.5 = 1 at α = 0.5: find the α where "
            "E(α, K) = K·c + v"
        )
        # K=2, c=0.25, v=1.25: 1 + α + α² = 1.75  ->  α = 0.5
        assert break_even_alpha(2, 0.25, 1.25) == pytest.approx(0.5, abs=1e-9), (
            "K=2, c=0.25, v=1.25: 1 + α + α² = 0.5 + 1.25 at α = 0.5: the verify cost v belongs "
            "in the cost K·c + v"
        )
        # K=2, c=0.1, v=1: 1 + α + α² = 1.2  ->  α = (√1.8 - 1) / 2
        assert break_even_alpha(2, 0.1) == pytest.approx((math.sqrt(1.8) - 1) / 2, abs=1e-9), (
            "K=2, c=0.1, v=1: 1 + α + α² = 1.2 at α = (√1.8 - 1) / 2 ≈ 0.17082: solve to within "
            "1e-9 (e.g. bisection on speedup - 1), not on a coarse grid"
        )

    def test_free_draft_breaks_even_at_zero(self):
        # K=1, c=0, v=1: S = 1 + α >= 1 for every α.
        assert break_even_alpha(1, 0.0) == 0.0, "with c = 0 and v = 1 speculation never loses: 0.0"

    def test_boundary_at_one(self):
        # K=1, c=1, v=1: (1 + α) / 2 = 1 only at α = 1.
        assert break_even_alpha(1, 1.0) == pytest.approx(1.0, abs=1e-9), (
            "K=1, c=1, v=1: (1 + α) / 2 reaches 1 exactly at α = 1: return 1.0 (speedup 1 breaks "
            "even), not math.inf"
        )

    def test_never_pays(self):
        # K=2, c=1.5, v=1: even α = 1 gives 3 / 4 < 1.
        assert break_even_alpha(2, 1.5) == math.inf, "when even α = 1 loses, return math.inf"
        assert break_even_alpha(0, 0.1, 1.2) == math.inf, "K = 0 with v > 1 never pays"

    def test_speedup_is_one_there(self):
        for k in (1, 2, 4, 8):
            for c in (0.05, 0.2, 0.5):
                for v in (1.0, 1.2):
                    a = break_even_alpha(k, c, v)
                    if not math.isfinite(a):
                        assert series_s(1.0, k, c, v) < 1, f"break_even_alpha({k}, {c}, {v}) = inf but α = 1 wins"
                        continue
                    assert 0.0 <= a <= 1.0, (
                        f"break_even_alpha({k}, {c}, {v}) = {a} is not an acceptance rate: return "
                        "an α in [0, 1], or math.inf when even α = 1 loses"
                    )
                    s = series_s(a, k, c, v)
                    assert abs(s - 1) < 1e-6 or (a == 0.0 and s >= 1), (
                        f"at break_even_alpha({k}, {c}, {v}) = {a:.6f} the speedup is {s:.8f}, not 1"
                    )

    def test_rises_with_cost(self):
        values = [break_even_alpha(4, float(c)) for c in np.linspace(0.01, 0.5, 12)]
        assert np.all(np.diff(values) > 0), f"a dearer draft needs a higher acceptance rate to break even: {values}"


# ---------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------

class TestSyntheticPair:
    @pytest.mark.parametrize("agreement", [0.0, 0.25, 0.7, 0.95, 1.0])
    def test_agreement_is_exact(self, agreement):
        rng = np.random.default_rng(3)
        for _ in range(20):
            p, q = synthetic_pair(12, agreement, rng)
            assert p.shape == q.shape == (12,), f"p and q must have shape (V,), got {p.shape}, {q.shape}"
            assert (p >= 0).all() and (q >= 0).all(), "probabilities must be non-negative"
            assert abs(p.sum() - 1) < 1e-9 and abs(q.sum() - 1) < 1e-9, "p and q must each sum to 1"
            overlap = np.minimum(p, q).sum()  # computed here, not with acceptance_rate
            assert abs(overlap - agreement) < 1e-9, (
                f"Σ min(p, q) = {overlap:.6f} but agreement {agreement} was asked for"
            )

    def test_random_and_reproducible(self):
        a = synthetic_pair(10, 0.6, 42)
        b = synthetic_pair(10, 0.6, 42)
        c = synthetic_pair(10, 0.6, 43)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), "the same seed must give the same pair"
        assert not np.allclose(a[0], c[0]), "different seeds must give different pairs"
        assert not np.allclose(a[0], a[1]), "for agreement < 1, p and q must differ"

    def test_rejects_bad_arguments(self):
        with pytest.raises(ValueError):
            synthetic_pair(1, 0.5, 0)
        with pytest.raises(ValueError):
            synthetic_pair(8, 1.5, 0)
        with pytest.raises(ValueError):
            synthetic_pair(8, -0.1, 0)


# verify_token draws are seeded, so these tests are deterministic; at the
# stated false-failure rate (1e-4 per assertion) a correct rule fails with
# probability 1e-4, while 4000 trials expose a rule off by ~0.03 in the
# acceptance probability or in any output probability.
N_TRIALS = 4000
P3 = np.array([0.5, 0.3, 0.2])
Q3 = np.array([0.2, 0.3, 0.5])


class TestVerifyToken:
    def _run(self, seed):
        rng = np.random.default_rng(seed)
        drafts = rng.choice(3, size=N_TRIALS, p=Q3)
        results = [verify_token(P3, Q3, int(x), rng) for x in drafts]
        return drafts, results

    def test_acceptance_probability_is_sum_of_min(self):
        _, results = self._run(1)
        accepted = sum(ok for ok, _ in results)
        passed, message = binomial_bound(accepted, N_TRIALS, 0.7)
        assert passed, "accept x ~ q with probability min(1, p(x)/q(x)); overall that is Σ min(p, q) = 0.7. " + message

    def test_output_follows_the_target(self):
        _, results = self._run(2)
        out = np.bincount([tok for _, tok in results], minlength=3)
        assert_follows(out, P3, what="tokens out of verify_token (accepted draft, or the correction from "
                     "max(0, p - q) normalised)")

    def test_likely_tokens_always_accepted(self):
        rng = np.random.default_rng(4)
        for _ in range(200):
            ok, tok = verify_token(P3, Q3, 0, rng)  # p(0) = 0.5 >= q(0) = 0.2
            assert ok and tok == 0, "a draft token with p(x) >= q(x) must always be accepted"

    def test_correction_comes_from_the_residual(self):
        rng = np.random.default_rng(5)
        outcomes = {verify_token(P3, Q3, 2, rng) for _ in range(300)}  # p(2) = 0.2 < q(2) = 0.5
        # max(0, p - q) = [0.3, 0, 0]: a correction can only be token 0.
        assert outcomes <= {(True, 2), (False, 0)}, (
            f"got {outcomes}: on rejection draw from max(0, p - q) normalised = [1, 0, 0] here"
        )
        assert (True, 2) in outcomes and (False, 0) in outcomes, "token 2 must be accepted with probability 0.4"

    def test_rejects_impossible_draft(self):
        with pytest.raises(ValueError):
            verify_token(np.array([0.5, 0.5]), np.array([1.0, 0.0]), 1, np.random.default_rng(0))


# A simulator whose position never advances (seed 001's bug) loops forever:
# pytest-timeout fails such a test after 20 s (the reference's longest
# simulation here takes ~0.3 s). If you see a timeout, check that every round
# advances the position by accepted + 1: the correction or bonus counts too.
def round_grammar_problem(events: list, k: int) -> str | None:
    """Why a round's events are malformed, or None: ACCEPTED* (REJECTED CORRECTION | BONUS)."""
    n = 0
    while n < len(events) and events[n] == Event.ACCEPTED:
        n += 1
    rest = list(events[n:])
    if rest == [Event.BONUS]:
        return None if n == k else f"a BONUS after {n} of {k} accepted drafts (only after full acceptance)"
    if rest == [Event.REJECTED, Event.CORRECTION]:
        return None if n < k else "a rejection after all K drafts were accepted"
    return f"round must be ACCEPTED* then REJECTED, CORRECTION or BONUS, got {[e.value for e in events]}"


class TestSimulateGeneration:
    def test_returns_result_with_consistent_trace(self):
        r = simulate_generation(300, agreement=0.7, lookahead=3, seed=1)
        assert isinstance(r, SimulationResult), (
            f"simulate_generation must return a SimulationResult, got {type(r).__name__}"
        )
        assert r.rounds == len(r.trace) == len(r.lookaheads) == len(r.accepted), (
            f"rounds={r.rounds} but {len(r.trace)} traces, {len(r.lookaheads)} lookaheads and "
            f"{len(r.accepted)} accepted counts: append one entry to each list per round"
        )
        for events, k, n in zip(r.trace, r.lookaheads, r.accepted):
            problem = round_grammar_problem(events, k)
            assert problem is None, problem
            assert events.count(Event.ACCEPTED) == n, (
                f"a round records accepted={n} but has {events.count(Event.ACCEPTED)} ACCEPTED "
                "events: record the number of drafts accepted in that round"
            )
        assert r.tokens == sum(n + 1 for n in r.accepted) == 300, (
            f"tokens must be Σ(accepted + 1) = {sum(n + 1 for n in r.accepted)} and equal max_tokens=300, "
            f"got {r.tokens}: a round emits its accepted drafts plus one correction or bonus token"
        )

    def test_no_acceptance_advances_one_token_per_round(self):
        r = simulate_generation(40, agreement=0.0, lookahead=4, seed=0)
        assert r.rounds == 40 and r.tokens == 40, (
            f"α = 0: each round rejects its first draft and emits the correction, so 40 tokens take 40 rounds, "
            f"got {r.rounds} rounds for {r.tokens} tokens"
        )
        assert all(events == [Event.REJECTED, Event.CORRECTION] for events in r.trace[:-1]), (
            "α = 0: every round but the last must be exactly [REJECTED, CORRECTION]: the first "
            "draft is always rejected, and a rejection ends the round"
        )
        # With one token left, K is cut to 0: the target alone emits it (a BONUS after 0 drafts).
        assert r.lookaheads[-1] == 0 and r.trace[-1] == [Event.BONUS], (
            "with 1 token left the last round must draft nothing (K = max_tokens - tokens - 1 = 0)"
        )

    def test_full_acceptance_advances_k_plus_one(self):
        # α = 1, K = 4: 10 rounds of 4 accepted + bonus = 50 tokens; each round costs 4·1 + 10 = 14 ms.
        r = simulate_generation(50, agreement=1.0, lookahead=4, target_ms=10.0, draft_ms=1.0, seed=0)
        assert r.rounds == 10, f"α = 1: every round emits K + 1 = 5 tokens, so 50 tokens take 10 rounds, got {r.rounds}"
        assert all(events == [Event.ACCEPTED] * 4 + [Event.BONUS] for events in r.trace), (
            "α = 1: every round must be 4 ACCEPTED events then one BONUS (the target adds a token "
            "after full acceptance)"
        )
        assert r.spec_ms == pytest.approx(140.0), (
            f"spec_ms = {r.spec_ms}, expected 10 rounds × (4 × 1 ms drafting + 10 ms verify) = "
            "140: each round costs K·draft_ms + verify_ms(K), verify_ms defaulting to target_ms"
        )
        assert r.target_only_ms == pytest.approx(500.0), (
            f"target_only_ms = {r.target_only_ms}, expected 50 tokens × 10 ms = 500: plain "
            "decoding costs target_ms per token"
        )
        assert r.speedup == pytest.approx(500 / 140), "speedup = target-only time / speculative time"

    def test_last_round_never_overshoots(self):
        # 52 tokens at α = 1, K = 4: 10 full rounds (50 tokens), then K is cut to 1 (1 accepted + bonus).
        r = simulate_generation(52, agreement=1.0, lookahead=4, seed=0)
        assert r.tokens == 52 and r.rounds == 11, f"got {r.tokens} tokens in {r.rounds} rounds"
        assert r.lookaheads[-1] == 1, "the last round must draft at most max_tokens - tokens - 1 tokens"

    def test_virtual_clock(self):
        r = simulate_generation(200, agreement=0.6, lookahead=5, target_ms=20.0, draft_ms=3.0,
                     verify_ms=lambda k: 20.0 + 2.0 * k, seed=2)
        want = sum(k * 3.0 + 20.0 + 2.0 * k for k in r.lookaheads)
        assert r.spec_ms == pytest.approx(want, rel=1e-12), (
            "each round costs K·draft_ms + verify_ms(K), whether or not the drafts are accepted"
        )
        assert r.target_only_ms == pytest.approx(200 * 20.0), "plain decoding costs target_ms per token"
        assert r.speedup == pytest.approx(r.target_only_ms / r.spec_ms), (
            f"speedup {r.speedup} != target_only_ms / spec_ms = {r.target_only_ms / r.spec_ms}: "
            "divide the plain-decoding time by the speculative time"
        )

    def test_reproducible(self):
        a = simulate_generation(200, agreement=0.7, lookahead=4, seed=11)
        b = simulate_generation(200, agreement=0.7, lookahead=4, seed=11)
        c = simulate_generation(200, agreement=0.7, lookahead=4, seed=12)
        assert a.trace == b.trace, "the same seed must give the same trace"
        assert a.trace != c.trace, "a different seed must give a different trace"

    def test_empirical_alpha_matches_agreement(self):
        # Every verified draft is one Bernoulli(α) trial: ACCEPTED = success, REJECTED = failure.
        r = simulate_generation(4000, agreement=0.65, lookahead=5, seed=3)
        flat = [e for events in r.trace for e in events]
        ok, rejected = flat.count(Event.ACCEPTED), flat.count(Event.REJECTED)
        passed, message = binomial_bound(ok, ok + rejected, 0.65)  # false failure 1e-4
        assert passed, "the fraction of accepted verifications must be the requested agreement. " + message

    def test_mean_tokens_and_speedup_match_theory(self):
        alpha, k, c = 0.8, 4, 0.1
        r = simulate_generation(10_000, agreement=alpha, lookahead=k, target_ms=10.0, draft_ms=1.0, seed=5)
        per_round = np.array([n + 1 for n, kk in zip(r.accepted, r.lookaheads) if kk == k], dtype=float)
        e = series_e(alpha, k)  # 3.3616
        se = per_round.std(ddof=1) / math.sqrt(len(per_round))
        # 4 standard errors: a correct simulator fails with probability ~6e-5.
        assert abs(per_round.mean() - e) < 4 * se, (
            f"mean tokens per round {per_round.mean():.4f} vs E(0.8, 4) = {e:.4f} (±{4 * se:.4f}): a round "
            "emits accepted + 1 tokens - check the position advance after a rejection and the bonus"
        )
        s = e / (k * c + 1)
        # Same bound on the speedup, plus 1e-3 for the shortened last round.
        assert abs(r.speedup - s) < 4 * se / (k * c + 1) + 1e-3, (
            f"simulated speedup {r.speedup:.4f} vs predicted {s:.4f}"
        )

    def test_agreement_can_change_mid_generation(self):
        r = simulate_generation(3000, agreement=lambda n: 0.9 if n < 1500 else 0.2, lookahead=3, seed=6)
        counts = {True: [0, 0], False: [0, 0]}  # early? -> [accepted, rejected]
        position = 0
        for events in r.trace:
            for i, e in enumerate(events):
                if e in (Event.ACCEPTED, Event.REJECTED):
                    counts[position + i < 1500][e == Event.REJECTED] += 1
            position += events.count(Event.ACCEPTED) + 1
        for early, alpha in ((True, 0.9), (False, 0.2)):
            ok, bad = counts[early]
            passed, message = binomial_bound(ok, ok + bad, alpha)
            assert passed, (
                f"the agreement function gets the index of the token being verified; "
                f"{'before' if early else 'after'} token 1500 it is {alpha}. " + message
            )

    def test_adaptive_policy_chooses_k(self):
        class Scripted:
            """Asks for K = 1, 2, 3, 1, 2, 3, ... and records the reports."""

            def __init__(self):
                self.reports = []

            @property
            def lookahead(self):
                return len(self.reports) % 3 + 1

            def update_lookahead(self, rate, *, drafted=None):
                self.reports.append((rate, drafted))
                return self.lookahead

        policy = Scripted()
        r = simulate_generation(300, agreement=0.5, lookahead=7, adaptive=policy, seed=7)
        full = list(r.lookaheads)
        assert full[:30] == [1, 2, 3] * 10, f"with adaptive=..., K must come from adaptive.lookahead: {full[:12]}"
        # Only a round cut to K = 0 by max_tokens goes unreported.
        drafted_rounds = [(k, n) for k, n in zip(r.lookaheads, r.accepted) if k > 0]
        assert len(policy.reports) == len(drafted_rounds), "update_lookahead must be called once per round"
        for (rate, drafted), (k, n) in zip(policy.reports, drafted_rounds):
            assert drafted == k and rate == pytest.approx(n / k), (
                "report each round as update_lookahead(accepted / K, drafted=K)"
            )

    def test_rejects_bad_arguments(self):
        with pytest.raises(ValueError):
            simulate_generation(0, agreement=0.5)
        with pytest.raises(ValueError):
            simulate_generation(10, agreement=0.5, lookahead=-1)
        with pytest.raises(ValueError):
            simulate_generation(10, agreement=1.5)
        with pytest.raises(ValueError):
            simulate_generation(10, agreement=lambda n: 2.0)
        with pytest.raises(ValueError):
            simulate_generation(10, agreement=0.5, target_ms=0.0)


class TestEventTimingAndOrder:
    """Where every event of every round happens, not only the totals.

    With alpha(n) = 1 the draft is always accepted (p == q) and with alpha(n) = 0 always
    rejected (disjoint supports), so a position-dependent agreement fixes the whole trace:
    it shows which token index each verification and each bonus looked at.
    """

    @staticmethod
    def alpha(n):
        return 0.0 if n % 3 == 2 else 1.0

    @staticmethod
    def expected(max_tokens, k_wanted, alpha):
        """The trace by the rules of the docstring, written out independently."""
        trace, tokens = [], 0
        while tokens < max_tokens:
            k = min(k_wanted, max_tokens - tokens - 1)
            events, accepted = [], 0
            for i in range(k):
                if alpha(tokens + i) == 0.0:
                    events += [Event.REJECTED, Event.CORRECTION]
                    break
                events.append(Event.ACCEPTED)
                accepted += 1
            else:
                events.append(Event.BONUS)
            trace.append((k, events))
            tokens += accepted + 1
        return trace

    @pytest.mark.parametrize("k", [1, 2, 4, 6])
    def test_every_event_sits_at_its_token_index(self, k):
        verify_calls = []

        def verify_ms(kk):
            verify_calls.append(kk)
            return 10.0 + kk

        r = simulate_generation(31, agreement=self.alpha, lookahead=k, target_ms=10.0, draft_ms=2.0,
                                verify_ms=verify_ms, seed=0)
        want = self.expected(31, k, self.alpha)
        for i, ((wk, events), got, gk) in enumerate(zip(want, r.trace, r.lookaheads)):
            assert (gk, [e.value for e in got]) == (wk, [e.value for e in events]), (
                f"K={k}, round {i}: got K={gk} {[e.value for e in got]}, want K={wk} "
                f"{[e.value for e in events]}. alpha(n) is 0 at every third token index: draft position i "
                "of a round starting at token t is index t + i, the bonus index t + K; a rejection "
                "ends the round with REJECTED then CORRECTION"
            )
        assert len(r.trace) == len(want), f"{len(r.trace)} rounds, want {len(want)}"
        assert r.accepted == [e.count(Event.ACCEPTED) for _, e in want], (
            f"K={k}: accepted per round {r.accepted}, but the trace's ACCEPTED events give "
            f"{[e.count(Event.ACCEPTED) for _, e in want]}: record each round's accepted count"
        )
        assert verify_calls == r.lookaheads, (
            f"verify_ms must be charged once per round, with that round's K, in order: called with "
            f"{verify_calls[:8]}..., rounds used K = {r.lookaheads[:8]}..."
        )
        assert r.spec_ms == pytest.approx(sum(kk * 2.0 + 10.0 + kk for kk in r.lookaheads), rel=1e-12), (
            f"K={k}: spec_ms must be the sum over rounds of K * draft_ms + verify_ms(K)"
        )


BAD_NUMBERS = [float("nan"), float("inf"), float("-inf"), "1", True, None]


class TestEveryBadArgument:
    """Each rejected value of each argument (TypeError or ValueError), other arguments valid."""

    @pytest.mark.parametrize("alpha", [-0.1, 1.1, *BAD_NUMBERS], ids=repr)
    def test_alpha(self, alpha):
        for call in (lambda: expected_tokens_per_round(alpha, 3), lambda: speedup(alpha, 3, 0.1, 1.2),
                     lambda: optimal_lookahead(alpha, 0.1, 1.2, k_max=8)):
            with pytest.raises((TypeError, ValueError)):
                call()

    @pytest.mark.parametrize("k", [-1, 2.0, "3", True, None, float("nan")], ids=repr)
    def test_k(self, k):
        for call in (lambda: expected_tokens_per_round(0.5, k), lambda: speedup(0.5, k, 0.1, 1.2),
                     lambda: break_even_alpha(k, 0.1, 1.2), lambda: optimal_lookahead(0.5, 0.1, 1.2, k_max=k)):
            with pytest.raises((TypeError, ValueError)):
                call()

    @pytest.mark.parametrize("c", [-0.1, *BAD_NUMBERS], ids=repr)
    def test_draft_cost(self, c):
        for call in (lambda: speedup(0.5, 3, c, 1.2), lambda: optimal_lookahead(0.5, c, 1.2, k_max=8),
                     lambda: break_even_alpha(3, c, 1.2)):
            with pytest.raises((TypeError, ValueError)):
                call()

    @pytest.mark.parametrize("v", [0.0, -1.0, *BAD_NUMBERS], ids=repr)
    def test_verify_cost(self, v):
        for call in (lambda: speedup(0.5, 3, 0.1, v), lambda: optimal_lookahead(0.5, 0.1, v, k_max=8),
                     lambda: break_even_alpha(3, 0.1, v)):
            with pytest.raises((TypeError, ValueError)):
                call()

    @pytest.mark.parametrize("p", [[0.5, float("nan"), 0.5], [1.2, -0.2], [0.3, 0.3], [[0.5, 0.5]], []],
                             ids=["nan", "negative", "sum<1", "2-D", "empty"])
    def test_acceptance_rate(self, p):
        with pytest.raises(ValueError):
            acceptance_rate(np.array(p), np.array([0.5, 0.5]) if np.ndim(p) == 1 and len(p) == 2 else np.array(p))

    BAD_SIM = [("max_tokens", v) for v in (0, -1, 2.0, True, None)] + [
        ("lookahead", v) for v in (-1, 2.0, True, None)] + [
        ("agreement", v) for v in (-0.1, 1.5, float("nan"), float("inf"), "0.5", None, lambda n: float("nan"))] + [
        ("target_ms", v) for v in (0.0, -1.0, float("nan"), float("inf"), "1", None)] + [
        ("draft_ms", v) for v in (-1.0, float("nan"), float("inf"), "1", None)] + [
        ("verify_ms", v) for v in (0.0, -1.0, float("nan"), float("inf"), "1", lambda k: 0.0,
                                   lambda k: float("nan"))] + [
        ("vocab_size", v) for v in (1, 0, 2.0, True)]

    @pytest.mark.parametrize("name,bad", BAD_SIM, ids=lambda v: repr(v)[:12])
    def test_simulate_generation(self, name, bad):
        kwargs = dict(max_tokens=20, agreement=0.6, lookahead=3, target_ms=10.0, draft_ms=1.0,
                      verify_ms=lambda k: 10.0 + k, vocab_size=8, seed=1)
        kwargs[name] = bad
        with pytest.raises((TypeError, ValueError)):
            simulate_generation(**kwargs)
