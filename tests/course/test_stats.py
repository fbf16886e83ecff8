"""Tests of the goodness-of-fit helpers in specdec_course.testing.stats (the course's own tools)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from specdec_course.testing.stats import GofResult, assert_follows, binomial_bound, chi_square_gof
from specdec_course.testing import (
    exact_next_distribution,
    exact_sequence_distribution,
    perturbed,
    random_markov,
)


def draw_counts(probs: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Counts of ``n`` draws from ``probs`` (V,), by a correct sampler."""
    rng = np.random.default_rng(seed)
    return np.bincount(rng.choice(len(probs), size=n, p=probs), minlength=len(probs))


def markov_sequences(probs: np.ndarray, last: int, length: int, n: int, seed: int, temperature=1.0):
    """Counts of ``n`` continuations of ``length`` tokens, sampled step by step."""
    rng = np.random.default_rng(seed)
    vocab = probs.shape[0]
    nexts = np.stack([exact_next_distribution(probs, t, temperature) for t in range(vocab)])
    cdf = np.cumsum(nexts, axis=1)
    current = np.full(n, last)
    seqs = np.empty((n, length), dtype=np.int64)
    for k in range(length):
        u = rng.random(n)[:, None]
        # Clip guards against a cumulative sum that ends a hair below 1.
        current = np.minimum((u > cdf[current]).sum(axis=1), vocab - 1)
        seqs[:, k] = current
    return Counter(map(tuple, seqs.tolist()))


P = random_markov(8, 0)[3]  # one peaked distribution over 8 tokens


def test_correct_sampler_passes():
    result = chi_square_gof(draw_counts(P, 20_000, seed=1), P)
    assert isinstance(result, GofResult)
    assert result.passed, result.message
    assert result.samples == 20_000 and result.dof >= 1
    assert result.p_value > 1e-3
    assert "passed" in result.message


def test_correct_sequence_sampler_passes_with_tuple_keys():
    probs = random_markov(4, 7)
    for temperature in (1.0, 0.5):
        counts = markov_sequences(probs, 0, 3, 20_000, seed=2, temperature=temperature)
        want = exact_sequence_distribution(probs, 0, 3, temperature)
        assert_follows(counts, want, what=f"3-token continuations at T={temperature}")


def test_sampling_from_the_draft_is_rejected():
    probs = random_markov(8, 0)
    q = perturbed(probs, 0.3, seed=4)[3]
    counts = draw_counts(q, 20_000, seed=3)
    result = chi_square_gof(counts, probs[3], what="tokens")
    assert not result.passed
    assert result.p_value < 1e-10
    assert "FAILED" in result.message and "observed" in result.message
    # The worst category listed first is the one whose probability moved most
    # relative to its standard error.
    worst = int(result.message.split("outcomes:\n")[1].split(":")[0])
    z = (q - probs[3]) / np.sqrt(probs[3] / 20_000)
    assert worst == int(np.argmax(np.abs(z)))


def test_temperature_bug_is_rejected():
    probs = random_markov(6, 9)
    # The bug: sampled at T=1 while the test expects T=0.7.
    counts = markov_sequences(probs, 1, 2, 20_000, seed=5, temperature=1.0)
    with pytest.raises(AssertionError, match="FAILED"):
        assert_follows(counts, exact_sequence_distribution(probs, 1, 2, 0.7), what="pairs")


def test_impossible_outcome_fails_immediately():
    probs = np.array([0.5, 0.5, 0.0, 0.0])
    counts = np.array([5000, 4999, 1, 0])
    result = chi_square_gof(counts, probs)
    assert not result.passed and result.p_value == 0.0 and result.statistic == np.inf
    assert "probability 0" in result.message and "2 (1 times)" in result.message
    # Missing from a mapping means probability 0 as well.
    result = chi_square_gof({(1, 2): 10, (9, 9): 1}, {(1, 2): 1.0})
    assert not result.passed and "(9, 9)" in result.message


def test_rare_categories_are_pooled():
    probs = np.array([0.6, 0.3] + [0.1 / 20] * 20)
    counts = draw_counts(probs, 1_000, seed=6)  # each rare one expects 5 * 1 = 5
    result = chi_square_gof(counts, probs, min_expected=10.0)
    assert result.passed, result.message
    assert result.dof < len(probs) - 1
    loose = chi_square_gof(counts, probs, min_expected=1.0)
    assert loose.dof == len(probs) - 1


def test_arrays_and_mappings_agree():
    counts = draw_counts(P, 5_000, seed=8)
    a = chi_square_gof(counts, P)
    b = chi_square_gof(dict(enumerate(counts.tolist())), dict(enumerate(P.tolist())))
    assert (a.statistic, a.dof, a.p_value) == pytest.approx((b.statistic, b.dof, b.p_value))


def test_one_certain_outcome_passes_trivially():
    result = chi_square_gof({7: 100}, {7: 1.0})
    assert result.passed and result.dof == 0 and result.p_value == 1.0


def test_bad_test_inputs_raise():
    with pytest.raises(ValueError, match="sum to 1"):
        chi_square_gof([1, 2], [0.5, 0.6])
    with pytest.raises(ValueError, match="no samples"):
        chi_square_gof([0, 0], [0.5, 0.5])
    with pytest.raises(ValueError):
        chi_square_gof([1, 2], [0.5, 0.5], false_failure=0.0)


def test_false_failure_rate_is_close_to_the_level():
    # Many correct samplers at level 5%: about 5% of them must fail (checked
    # with the exact binomial test the module provides).
    rng = np.random.default_rng(10)
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    trials, failures = 1_000, 0
    for _ in range(trials):
        counts = np.bincount(rng.choice(4, size=300, p=probs), minlength=4)
        failures += not chi_square_gof(counts, probs, false_failure=0.05).passed
    ok, message = binomial_bound(failures, trials, 0.05, false_failure=1e-3)
    assert ok, message


def test_assert_follows_returns_result_or_raises_with_message():
    result = assert_follows(draw_counts(P, 5_000, seed=11), P, what="tokens")
    assert result.passed
    wrong = np.roll(P, 1)
    with pytest.raises(AssertionError) as excinfo:
        assert_follows(draw_counts(wrong, 5_000, seed=11), P, what="tokens at T=1")
    assert "tokens at T=1" in str(excinfo.value) and "expected" in str(excinfo.value)


def test_binomial_bound_both_ways():
    ok, message = binomial_bound(512, 1_000, 0.5)
    assert ok and "passed" in message and "0.5120" in message
    ok, message = binomial_bound(700, 1_000, 0.5)
    assert not ok and "FAILED" in message
    ok, _ = binomial_bound(300, 1_000, 0.5)
    assert not ok  # two-sided
    assert binomial_bound(0, 50, 0.0)[0] and not binomial_bound(1, 50, 0.0)[0]
    assert binomial_bound(50, 50, 1.0)[0] and not binomial_bound(49, 50, 1.0)[0]
    with pytest.raises(ValueError):
        binomial_bound(5, 3, 0.5)
    with pytest.raises(ValueError):
        binomial_bound(1, 3, 1.5)


def test_acceptance_rate_use_case():
    # The expected acceptance rate of one draft token is sum(min(p, q)).
    probs = random_markov(8, 0)
    p, q = probs[2], perturbed(probs, 0.4, seed=1)[2]
    rng = np.random.default_rng(12)
    drafts = rng.choice(8, size=10_000, p=q)
    accepted = rng.random(10_000) < np.minimum(1.0, p[drafts] / q[drafts])
    ok, message = binomial_bound(int(accepted.sum()), 10_000, float(np.minimum(p, q).sum()))
    assert ok, message
    ok, _ = binomial_bound(int(accepted.sum()), 10_000, float(np.minimum(p, q).sum()) - 0.05)
    assert not ok
