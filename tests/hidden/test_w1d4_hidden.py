"""Hidden tests, Week 1 Day 4 (instructor-only).

What the public tests do not show: the default key at T > 0, the law of a whole
K = 2 round (accepted count, accepted tokens, correction at row 1, bonus), and
Python ints at T > 0.
"""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.verify import verify_speculation
from specdec_course.testing.stats import assert_follows

pytestmark = pytest.mark.w1d4

P = np.array(
    [[0.40, 0.30, 0.15, 0.10, 0.05], [0.10, 0.20, 0.30, 0.25, 0.15], [0.05, 0.5, 0.15, 0.1, 0.2]]
)
Q = np.array([[0.10, 0.20, 0.30, 0.25, 0.15], [0.30, 0.30, 0.10, 0.25, 0.05]])


def _logits(p) -> mx.array:
    return mx.array(np.log(np.asarray(p)).astype(np.float32))


def test_positive_temperature_with_the_default_key():
    # Bug caught (seen in the wild): mx.random.split(key) with key=None crashes at T > 0,
    # although every public test passes a key.
    mx.random.seed(3)
    n, tokens = verify_speculation([2, 1], _logits(P), _logits(Q), temperature=1.0)
    assert len(tokens) == n + 1 and tokens[:n] == [2, 1][:n], f"got {(n, tokens)}"


def test_law_of_a_whole_k2_round():
    # Bugs caught that keep the FIRST token's law right: position 2 judged with row 0's
    # p/q, one uniform reused for both positions, the correction at row 1 drawn from p
    # instead of the residual, the bonus taken from row 1.
    trials = 2000
    rng = np.random.default_rng(5)
    keys = mx.random.split(mx.random.key(5), trials)
    tl, dl = _logits(P), _logits(Q)
    counts, first_kept, correction1, bonus = Counter(), Counter(), Counter(), Counter()
    for i in range(trials):
        drafts = [int(rng.choice(5, p=Q[0])), int(rng.choice(5, p=Q[1]))]
        n, tokens = verify_speculation(drafts, tl, dl, temperature=1.0, key=keys[i])
        assert len(tokens) == n + 1, f"len(tokens) must be n + 1, got n={n}, tokens={tokens}"
        counts[n] += 1
        if n >= 1:
            first_kept[tokens[0]] += 1
        if n == 1:
            correction1[tokens[1]] += 1
        if n == 2:
            bonus[tokens[2]] += 1
    a0, a1 = np.minimum(P[0], Q[0]).sum(), np.minimum(P[1], Q[1]).sum()
    assert_follows(
        counts,
        {0: 1 - a0, 1: a0 * (1 - a1), 2: a0 * a1},
        what="the number n of accepted drafts in a K=2 round: P(n=0) = 1 - a0, "
        "P(n=1) = a0 (1 - a1), P(n=2) = a0 a1 with a_i = sum(min(p_i, q_i))",
    )
    kept = np.minimum(P[0], Q[0]) / a0
    assert_follows(
        first_kept,
        dict(enumerate(kept)),
        what="an accepted first draft token: law min(p0, q0) / a0",
    )
    residual = np.maximum(P[1] - Q[1], 0)
    assert_follows(
        correction1,
        dict(enumerate(residual / residual.sum())),
        what="the correction after rejecting the SECOND draft: max(0, p1 - q1) normalised",
    )
    assert_follows(bonus, dict(enumerate(P[2])), what="the bonus token after K=2: row 2 of p")


def test_python_ints_at_positive_temperature():
    # Bug caught: tokens returned as mx.array / numpy scalars from the sampled path.
    same = _logits(P[:2])
    n, tokens = verify_speculation([0], same, _logits(P[:1]), temperature=0.7, key=mx.random.key(0))
    assert type(n) is int and all(type(t) is int for t in tokens), (
        f"return Python ints at T > 0 too, got n={n!r} ({type(n).__name__}), "
        f"tokens={[type(t).__name__ for t in tokens]}"
    )
    assert n == 1, "p == q accepts every draft"
