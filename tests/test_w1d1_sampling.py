"""Week 1 Day 1 - logits, temperature and sampling (book chapter week1-01-sampling)."""

import math

import mlx.core as mx
import numpy as np
import pytest

from specdec.sampling import logits_to_probs, sample_from_probs, sample_token
from specdec_course.testing.stats import assert_follows

pytestmark = pytest.mark.w1d1

# The frequency tests draw N tokens with keys split from a fixed seed, so they
# are deterministic. They use a chi-square test at a false-failure rate of
# 1e-4: a correct sampler fails with these keys with probability 1e-4, while
# N = 4000 draws make every expected count >= 280, enough to expose a sampler
# that is off by a few percentage points on any token (power ~1 for shifts of
# 0.05 in one probability).
N_DRAWS = 4000


def _np(a: mx.array) -> np.ndarray:
    return np.array(a.astype(mx.float32))


def _draw(fn, n: int, seed: int) -> np.ndarray:
    keys = mx.random.split(mx.random.key(seed), n)
    return np.array([fn(keys[i]) for i in range(n)])


class TestLogitsToProbs:
    def test_temperature_one_matches_hand_computed(self):
        # exp(0) : exp(ln 3) : exp(ln 4) = 1 : 3 : 4
        p = _np(logits_to_probs(mx.array([0.0, math.log(3), math.log(4)]), 1.0))
        assert np.allclose(p, [1 / 8, 3 / 8, 4 / 8], atol=1e-6), f"softmax at T=1 is wrong: got {p}"

    def test_temperature_divides_the_logits(self):
        # At T=2 the logits are halved: exp(ln 4 / 2) = 2, exp(ln 9 / 2) = 3.
        p = _np(logits_to_probs(mx.array([0.0, math.log(4), math.log(9)]), 2.0))
        assert np.allclose(p, [1 / 6, 2 / 6, 3 / 6], atol=1e-6), (
            f"at T=2 expected [1/6, 2/6, 3/6], got {p}: are the logits divided by the temperature?"
        )
        # At T=0.5 they are doubled: 1 : 4 : 9.
        p = _np(logits_to_probs(mx.array([0.0, math.log(2), math.log(3)]), 0.5))
        assert np.allclose(p, [1 / 14, 4 / 14, 9 / 14], atol=1e-6), (
            f"at T=0.5 expected [1/14, 4/14, 9/14], got {p}: divide by T (not multiply)"
        )

    def test_rows_sum_to_one_and_keep_shape(self):
        logits = mx.random.normal((2, 3, 11), key=mx.random.key(1)) * 5
        p = logits_to_probs(logits, 0.7)
        assert p.shape == (2, 3, 11), f"shape must be kept: got {p.shape}"
        assert p.dtype == mx.float32, f"probabilities must be float32, got {p.dtype}"
        assert np.allclose(_np(p).sum(-1), 1.0, atol=1e-5), "each row must sum to 1 (normalise over the last axis)"

    def test_zero_temperature_is_one_hot_on_argmax(self):
        p = _np(logits_to_probs(mx.array([[0.1, 2.0, -1.0], [5.0, 5.0, 1.0]]), 0.0))
        assert np.array_equal(p, [[0, 1, 0], [1, 0, 0]]), (
            f"T=0 must give a one-hot on the argmax of the LAST axis, each row its own (first one on "
            f"ties), got {p}"
        )

    def test_small_temperature_approaches_greedy(self):
        p = _np(logits_to_probs(mx.array([1.0, 2.0, 3.0]), 1e-3))
        assert not np.isnan(p).any(), "T=1e-3 produced NaN: subtract the max logit before exp"
        assert p[2] > 1 - 1e-6, f"as T->0 the argmax must take all the mass, got {p}"

    def test_large_temperature_approaches_uniform(self):
        p = _np(logits_to_probs(mx.array([1.0, 2.0, 3.0, 4.0]), 1e6))
        assert np.allclose(p, 0.25, atol=1e-5), f"as T grows the distribution flattens, got {p}"

    def test_stable_for_huge_logits(self):
        p = _np(logits_to_probs(mx.array([1e4, -1e4, 0.0, 1e4 - 1.0]), 1.0))
        assert np.isfinite(p).all(), f"logits of ±1e4 gave {p}: exp overflowed, subtract the row max first"
        e = math.exp(-1)
        assert np.allclose(p, [1 / (1 + e), 0, 0, e / (1 + e)], atol=1e-6), f"wrong values for huge logits: {p}"

    @pytest.mark.parametrize("dtype", [mx.bfloat16, mx.float16], ids=["bf16", "fp16"])
    def test_low_precision_inputs_use_float32_math(self, dtype):
        logits = (mx.random.normal((64,), key=mx.random.key(2)) * 3).astype(dtype)
        p = logits_to_probs(logits, 0.8)
        assert p.dtype == mx.float32, f"{dtype} logits must give float32 probabilities, got {p.dtype}"
        z = np.array(logits.astype(mx.float32), dtype=np.float64)

        def softmax(x):
            return np.exp(x - x.max()) / np.exp(x - x.max()).sum()

        got, exact = _np(p), softmax(z / 0.8)
        err = np.abs(got - exact).max()
        # Name the bug by its signature, not by the size of the error alone: a wrong formula
        # (T multiplied, not divided) is far off; math left in low precision is close but not
        # float32-close (bf16 keeps ~3 digits: errors ~1e-3 of the largest probability).
        if np.abs(got - softmax(z * 0.8)).max() < 0.02 * exact.max():
            hint = "the logits were multiplied by T = 0.8: divide them by T"
        elif err < 0.02 * exact.max():
            hint = f"{dtype} precision loss: cast the logits to float32 before any arithmetic"
        else:
            hint = "the values are not softmax(logits / T) of the float32 logits"
        assert err < 1e-6, f"error {err:.2e} vs the float64 softmax at T = 0.8: {hint}"

    @pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf")])
    def test_rejects_bad_temperature(self, bad):
        with pytest.raises(ValueError, match="temperature"):
            logits_to_probs(mx.array([1.0, 2.0]), bad)


class TestSampleFromProbs:
    def test_returns_python_int_in_range(self):
        tok = sample_from_probs(mx.array([0.2, 0.3, 0.5]), key=mx.random.key(0))
        assert type(tok) is int, f"return a Python int (use .item()), got {type(tok).__name__}"
        assert 0 <= tok < 3, (
            f"token {tok} is outside [0, 3): draw with mx.random.categorical over mx.log(probs); "
            "an inverse-CDF search runs one past the end when the cumsum rounds below 1"
        )

    def test_same_key_same_token_and_keys_matter(self):
        probs = mx.array([0.25, 0.25, 0.25, 0.25])
        key = mx.random.key(7)
        assert len({sample_from_probs(probs, key=key) for _ in range(20)}) == 1, "the same key must give the same token"
        draws = _draw(lambda k: sample_from_probs(probs, key=k), 64, seed=3)
        assert len(set(draws.tolist())) >= 3, "different keys must give different tokens: use the key you are given"

    def test_follows_the_distribution(self):
        probs = [0.1, 0.2, 0.3, 0.4]
        draws = _draw(lambda k: sample_from_probs(mx.array(probs), key=k), N_DRAWS, seed=11)
        assert_follows(np.bincount(draws, minlength=4), probs, what="sample_from_probs([0.1, 0.2, 0.3, 0.4]) "
                   "(mx.random.categorical takes log-probabilities: pass mx.log(p), not p)")

    def test_normalises_and_never_draws_impossible_tokens(self):
        draws = _draw(lambda k: sample_from_probs(mx.array([0.0, 2.0, 0.0, 6.0]), key=k), N_DRAWS, seed=5)
        assert not np.isin(draws, [0, 2]).any(), "a token with probability 0 was drawn"
        assert_follows(np.bincount(draws, minlength=4), [0, 0.25, 0, 0.75], what="unnormalised [0, 2, 0, 6]")

    def test_rejects_empty_mass(self):
        with pytest.raises(ValueError):
            sample_from_probs(mx.array([0.0, 0.0, 0.0]), key=mx.random.key(0))


class TestSampleToken:
    def test_greedy_ignores_the_key(self):
        logits = mx.array([0.5, 3.0, 2.9, -1.0])
        toks = {sample_token(logits, 0.0, key=mx.random.key(s)) for s in range(10)}
        assert toks == {1}, f"T=0 must always return the argmax 1, got {toks}"
        assert type(sample_token(logits, 0.0)) is int, "return a Python int"

    def test_follows_softmax_at_temperature(self):
        # logits ln[1, 2, 3, 4] at T = 0.5 -> p proportional to [1, 4, 9, 16].
        logits = mx.array([math.log(v) for v in (1, 2, 3, 4)])
        draws = _draw(lambda k: sample_token(logits, 0.5, key=k), N_DRAWS, seed=13)
        assert_follows(np.bincount(draws, minlength=4), np.array([1, 4, 9, 16]) / 30,
                       what="sample_token(ln[1,2,3,4], T=0.5)")

    def test_reproducible_with_same_key(self):
        logits = mx.random.normal((50,), key=mx.random.key(4))
        key = mx.random.key(123)
        assert sample_token(logits, 1.0, key=key) == sample_token(logits, 1.0, key=key), (
            "the same key must reproduce the same token"
        )

    def test_rejects_batched_logits(self):
        with pytest.raises(ValueError):
            sample_token(mx.zeros((2, 5)), 1.0, key=mx.random.key(0))


# Every rejected value for every argument that takes a number: one clear exception, never a
# NaN row or a silently clipped value. (Wrong types may raise TypeError or ValueError.)
BAD_TEMPERATURES = [-0.5, -1e-9, float("nan"), float("inf"), float("-inf"), "0.5", None]


class TestEveryBadArgument:
    @pytest.mark.parametrize("bad", BAD_TEMPERATURES, ids=repr)
    def test_logits_to_probs_rejects_temperature(self, bad):
        with pytest.raises((ValueError, TypeError), match="temperature"):
            logits_to_probs(mx.array([1.0, 2.0]), bad)

    @pytest.mark.parametrize("bad", BAD_TEMPERATURES, ids=repr)
    @pytest.mark.parametrize("with_key", [False, True])
    def test_sample_token_rejects_temperature(self, bad, with_key):
        key = mx.random.key(0) if with_key else None
        with pytest.raises((ValueError, TypeError), match="temperature"):
            sample_token(mx.array([1.0, 2.0, 0.5]), bad, key=key)

    @pytest.mark.parametrize("probs", [[0.5, float("nan"), 0.5], [0.2, float("inf"), 0.1], [0.0, 0.0],
                                       [[0.5, 0.5]]], ids=["nan", "inf", "no-mass", "2-D"])
    @pytest.mark.parametrize("with_key", [False, True])
    def test_sample_from_probs_rejects(self, probs, with_key):
        key = mx.random.key(0) if with_key else None
        with pytest.raises(ValueError):
            sample_from_probs(mx.array(probs), key=key)
