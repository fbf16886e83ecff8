"""Hidden tests, Week 2 Day 1 (instructor-only).

What the public tests do not show: a verification cost v != 1 throughout the
formulas, the token index the agreement function is asked for, and a policy
that switches speculation off (K = 0 rounds reported, the end-of-budget cap not); the
pictures' data on inputs the public tests do not use (a larger vocabulary, unsorted alphas).
"""

import numpy as np
import pytest

from specdec.pictures import optimal_k_curves, overlap_bars
from specdec.simulator import Event, simulate_generation
from specdec.theory import break_even_alpha, expected_tokens_per_round, optimal_lookahead, speedup

pytestmark = pytest.mark.w2d1


def test_the_verification_cost_v_is_used_everywhere():
    # Bug caught: v dropped (taken as 1) in speedup, optimal_lookahead or break_even_alpha.
    alpha, c, v = 0.8, 0.1, 1.6
    e = sum(alpha**i for i in range(4))
    assert speedup(alpha, 3, c, v) == pytest.approx(e / (3 * c + v), rel=1e-12), (
        "speedup = E(alpha, K) / (K c + v) with the given v"
    )
    brute = max(range(1, 33), key=lambda k: (sum(alpha**i for i in range(k + 1)) / (k * c + v), -k))
    best = sum(alpha**i for i in range(brute + 1)) / (brute * c + v)
    assert optimal_lookahead(alpha, c, v) == (brute if best > 1 else 0), (
        f"optimal_lookahead({alpha}, {c}, v={v}) must search with that v"
    )
    a = break_even_alpha(2, 0.2, 1.3)
    assert expected_tokens_per_round(a, 2) / (2 * 0.2 + 1.3) == pytest.approx(1.0, abs=1e-9), (
        "break_even_alpha(K, c, v) is where E(alpha, K) / (K c + v) = 1, with that v"
    )


def test_agreement_is_asked_at_each_verified_token_index():
    # Bug caught: alpha(n) evaluated at the round's start for every position, or at the
    # round number instead of the token index.
    asked = []

    def agreement(n):
        asked.append(n)
        return 1.0

    r = simulate_generation(12, agreement=agreement, lookahead=3, seed=0)
    # alpha = 1: rounds of 3 accepted + bonus from tokens 0, 4, 8; positions 0..11.
    assert r.lookaheads == [3, 3, 3], f"got lookaheads {r.lookaheads}"
    assert sorted(set(asked)) == list(range(12)), (
        f"the agreement function was asked for indices {sorted(set(asked))}; with alpha = 1 "
        "every token index 0..11 (drafts tokens+i, bonus tokens+K) is asked for"
    )


class _Off:
    """A policy that never speculates and records what it is told."""

    lookahead = 0

    def __init__(self):
        self.reports = []

    def update_lookahead(self, rate, *, drafted=None):
        self.reports.append((rate, drafted))
        return 0


def test_a_policy_that_switches_speculation_off():
    # Bug caught: K = 0 rounds of the policy not reported (it could never probe again),
    # or reported with drafted=K instead of 0.
    policy = _Off()
    r = simulate_generation(5, agreement=0.5, adaptive=policy, seed=0)
    assert r.rounds == 5 and r.lookaheads == [0] * 5, f"got {r.lookaheads}"
    assert all(events == [Event.BONUS] for events in r.trace), f"got {r.trace}"
    assert policy.reports == [(0.0, 0)] * 5, (
        f"each round the policy chose K = 0 must be reported as update_lookahead(0.0, "
        f"drafted=0); got {policy.reports}"
    )


def test_overlap_bars_on_a_larger_vocabulary():
    # Bugs caught: a residual normalised by the sum of p (or not at all), alpha not equal to
    # 1 - TV(p, q), accept above 1 where p > q.
    rng = np.random.default_rng(7)
    p, q = rng.dirichlet(np.ones(50)), rng.dirichlet(np.ones(50) * 0.3)
    got = overlap_bars(p, q)
    tv = 0.5 * np.abs(p - q).sum()
    assert got.alpha == pytest.approx(1.0 - tv, abs=1e-12), (
        f"alpha = {got.alpha:.6f} must be sum(min(p, q)) = 1 - TV(p, q) = {1 - tv:.6f}"
    )
    excess = np.maximum(p - q, 0.0)
    np.testing.assert_allclose(got.residual, excess / excess.sum(), atol=1e-12, err_msg=(
        "residual must be max(p - q, 0) divided by its own sum (= 1 - alpha)"))
    assert (got.accept <= 1.0).all() and (got.accept >= 0.0).all(), (
        "accept = min(1, p / q) is in [0, 1]")
    np.testing.assert_allclose(got.q * got.accept, got.overlap, atol=1e-12,
                               err_msg="q * accept must equal min(p, q)")


def test_optimal_k_curves_keep_the_order_given():
    # Bugs caught: alphas or costs sorted (or made unique), rows and columns swapped, v dropped.
    alphas, costs, v = [0.9, 0.3, 0.9, 0.6], [0.3, 0.05], 1.2
    got = optimal_k_curves(alphas, costs, v, k_max=24)
    want = [[optimal_lookahead(a, c, v, k_max=24) for a in alphas] for c in costs]
    assert got.best_k.tolist() == want, (
        f"best_k[i][j] must be the optimal K for costs[i], alphas[j] in the order given: "
        f"expected {want}, got {got.best_k.tolist()}"
    )
    for i, c in enumerate(costs):
        for j, a in enumerate(alphas):
            k = want[i][j]
            s = speedup(a, k, c, v) if k else 1.0
            assert got.best_speedup[i, j] == pytest.approx(s, rel=1e-12), (
                f"c = {c}, alpha = {a}, v = {v}: speedup at K = {k} is {s:.6f}, got "
                f"{got.best_speedup[i, j]:.6f}"
            )
