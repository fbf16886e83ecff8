"""Hidden tests, Week 3 Day 2 (instructor-only).

What the public tests do not show: the default key at T > 0, the law of a whole
K = 3 round whose every position is a real coin flip, independence of the accept
test and the correction draw, and a negative or mis-sized ``num_draft``.
"""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.batched_verify import batched_verify
from specdec_course.testing.stats import assert_follows
from tests.w3_helpers import exact_verify_law

pytestmark = pytest.mark.w3d2

# Target rows p_0 .. p_3 and draft rows q_0 .. q_2 over V = 5 tokens, and fixed drafts: each
# draft token has p/q between 0.5 and 0.7, so every position is a real accept-or-reject.
P = np.array(
    [
        [0.30, 0.25, 0.25, 0.10, 0.10],
        [0.20, 0.30, 0.20, 0.10, 0.20],
        [0.10, 0.20, 0.15, 0.25, 0.30],
        [0.05, 0.15, 0.40, 0.30, 0.10],
    ]
)
Q = np.array(
    [
        [0.15, 0.20, 0.40, 0.15, 0.10],
        [0.25, 0.50, 0.05, 0.10, 0.10],
        [0.10, 0.15, 0.20, 0.40, 0.15],
    ]
)
DRAFTS = [2, 1, 3]


def _log(x: np.ndarray) -> mx.array:
    return mx.array(np.log(x).astype(np.float32))


def test_positive_temperature_with_the_default_key():
    # Bug caught: mx.random.split(key) on key=None crashes at T > 0, although every public
    # sampling test passes a key.
    mx.random.seed(1)
    n, tokens = batched_verify(
        mx.array([DRAFTS, DRAFTS]), _log(np.stack([P, P])), _log(np.stack([Q, Q])), temperature=1.0
    )
    assert n.shape == (2,) and tokens.shape == (2, 4), f"got {n.shape} and {tokens.shape}"


def test_law_of_a_whole_k3_round():
    # Bug caught: one uniform per row shared by all K positions (u of shape (B, 1)
    # broadcast): P(all 3 accepted) becomes min(alpha_i) instead of their product. The
    # public rows have acceptance ratios too close to 1 (or 0) to show it.
    rows = 3000
    n, tokens = batched_verify(
        mx.array([DRAFTS] * rows),
        _log(np.broadcast_to(P, (rows, *P.shape))),
        _log(np.broadcast_to(Q, (rows, *Q.shape))),
        temperature=1.0,
        key=mx.random.key(12),
    )
    n, tokens = np.array(n), np.array(tokens)
    assert_follows(
        Counter((int(n[i]), int(tokens[i, n[i]])) for i in range(rows)),
        exact_verify_law(DRAFTS, P, Q, len(DRAFTS)),
        what="(accepted n, token at n) of a K=3 round with p/q of 0.5-0.7 at every draft: each "
        "position needs its OWN uniform, P(n >= j) = alpha_0 ... alpha_(j-1)",
    )


def test_accept_test_and_correction_use_independent_keys():
    # Bug caught: the same key for the uniforms and for the correction draw (no split): a
    # rejection (large u) then skews which token the residual gives. One row per call, so
    # the correlation sits inside the row; the public tests only look at big batches.
    calls = 600
    keys = mx.random.split(mx.random.key(3), calls)
    tl, dl, drafts = _log(P[None, :2]), _log(Q[None, :1]), mx.array([[DRAFTS[0]]])
    outcomes = Counter()
    for i in range(calls):
        n, tokens = batched_verify(drafts, tl, dl, temperature=1.0, key=keys[i])
        n = n.item()
        outcomes[(n, tokens[0, n].item())] += 1
    assert_follows(
        outcomes,
        exact_verify_law(DRAFTS, P[:2], Q[:1], 1),
        what="(accepted n, token at n) of a K=1 row over 600 keys: split the key into one part "
        "for the accept test and one for the correction / bonus draw",
    )


@pytest.mark.parametrize("counts", [[1, -1], [1, 1, 1]], ids=["negative", "wrong-length"])
def test_bad_num_draft_is_refused(counts):
    # Bugs caught: only the upper bound of num_draft checked (a negative count silently
    # accepts nothing), or its length never compared with B (an opaque broadcast error).
    drafts = mx.array([DRAFTS, DRAFTS])
    target, draft = _log(np.stack([P, P])), _log(np.stack([Q, Q]))
    with pytest.raises(ValueError, match="num_draft"):
        batched_verify(drafts, target, draft, num_draft=counts)
