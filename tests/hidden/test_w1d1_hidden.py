"""Hidden tests, Week 1 Day 1 (instructor-only: never shipped in a handout).

What the public tests do not show: the global RNG path (key=None), ties in a
batch at T = 0, masked (-inf) logits, an int temperature.
"""

import math

import mlx.core as mx
import numpy as np
import pytest

from specdec.sampling import logits_to_probs, sample_from_probs, sample_token

pytestmark = pytest.mark.w1d1


def test_default_key_samples_from_the_global_generator():
    # Bug caught: key=None handled as a fixed key (always the same draw) or passed to
    # mx.random.split (a crash).
    mx.random.seed(0)
    draws = {sample_token(mx.array([0.0, 0.0]), 1.0) for _ in range(64)}
    assert draws == {0, 1}, (
        f"64 draws from two equally likely tokens with key=None gave only {sorted(draws)}: "
        "key=None must use MLX's global generator (pass key=None on to mx.random.categorical)"
    )
    token = sample_from_probs(mx.array([0.2, 0.8]))
    assert type(token) is int and 0 <= token < 2, f"sample_from_probs(key=None) returned {token!r}"


def test_ties_in_a_batch_give_one_hot_rows_on_the_first_maximum():
    # Bug caught: greedy as `logits == max` (two ones on a tie) or argmax over the wrong axis.
    probs = np.array(logits_to_probs(mx.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), 0.0))
    want = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert np.array_equal(probs, want), (
        f"T=0 on tied rows gave {probs.tolist()}, want {want.tolist()}: one-hot on the FIRST "
        "maximum of each row (mx.argmax along the last axis), never two ones"
    )


def test_masked_logits_and_an_int_temperature():
    # Bug caught: NaN from -inf logits (e.g. subtracting a mean or multiplying -inf by 0),
    # or a temperature check that refuses the int 2.
    logits = mx.array([-math.inf, 0.0, 1.0, -math.inf])
    probs = np.array(logits_to_probs(logits, 2))
    assert np.isfinite(probs).all(), f"masked (-inf) logits gave non-finite probabilities {probs}"
    assert probs[0] == 0 and probs[3] == 0, f"a -inf logit must get probability 0, got {probs}"
    want = np.exp(np.array([0.0, 0.5]) - 0.5)
    want /= want.sum()
    assert np.allclose(probs[1:3], want, atol=1e-6), (
        f"T=2 (an int) must divide the logits by 2: want {want}, got {probs[1:3]}"
    )
