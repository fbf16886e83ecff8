"""Hidden tests, Week 1 Day 3 (instructor-only).

What the public tests do not show: the law of sampled drafts (K = 2, against
the draft's exact softmax), the default key at T > 0, and a second prompt that
shares only a prefix with the first (a partial rewind of the draft cache).
"""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.decoder import SpeculativeDecoder
from specdec_course.testing import MarkovModel, ScriptedModel, exact_next_distribution
from specdec_course.testing.stats import assert_follows

pytestmark = pytest.mark.w1d3

P = np.array(
    [[0.1, 0.5, 0.2, 0.2], [0.4, 0.1, 0.1, 0.4], [0.25, 0.25, 0.4, 0.1], [0.3, 0.3, 0.3, 0.1]]
)


def test_sampled_drafts_follow_the_drafts_softmax_for_k2():
    # Bugs caught: the second draft token sampled from the wrong row or with the first
    # token's key (correlated draws), T not applied, or the drafts taken greedily.
    t, n = 0.8, 700
    model = MarkovModel(P)
    decoder = SpeculativeDecoder(model, model, 2, temperature=t)
    keys = mx.random.split(mx.random.key(11), n)
    pairs = Counter(tuple(decoder.draft_generation([3, 0], 2, key=keys[i])) for i in range(n))
    want = {
        (a, b): exact_next_distribution(P, 0, t)[a] * exact_next_distribution(P, a, t)[b]
        for a in range(4)
        for b in range(4)
    }
    assert_follows(
        pairs,
        want,
        what="the pair of sampled drafts (d1, d2) at T=0.8: "
        "d1 ~ softmax(draft logits / T) after the prompt, d2 after d1, independent keys",
    )


def test_sampled_drafting_with_the_default_key():
    # Bug caught: mx.random.split(key) without handling key=None.
    model = MarkovModel(P)
    decoder = SpeculativeDecoder(model, model, 3, temperature=1.0)
    drafts = decoder.draft_generation([1, 2, 3], 3)
    assert len(drafts) == 3 and all(type(d) is int for d in drafts), f"got {drafts}"
    assert decoder.draft_logits is not None and decoder.draft_logits.shape == (3, 4), (
        "draft_logits must hold the (K, V) rows the drafts were drawn from"
    )


def _history_model() -> ScriptedModel:
    # Every prediction depends on the whole history, so a stale cache entry changes it.
    return ScriptedModel(16, lambda i, history: (sum(history) * 7 + 3 * i) % 16)


def test_a_prompt_sharing_only_a_prefix_rewinds_to_the_common_part():
    # Bug caught: the draft cache rewound only when the first token differs, or not to
    # the longest common prefix of the old and new context.
    first, second = [1, 2, 3, 4, 5, 6], [1, 2, 9, 9]
    fresh = SpeculativeDecoder(_history_model(), _history_model(), 3)
    want = fresh.draft_generation(second, 3)
    stale = SpeculativeDecoder(_history_model(), _history_model(), 3)
    stale_wrong = stale.draft_generation([1, 2, 3, 4, 9, 9], 3)
    assert stale_wrong != want, "test setup: a stale prefix must change the drafts"
    decoder = SpeculativeDecoder(_history_model(), _history_model(), 3)
    decoder.draft_generation(first, 3)
    got = decoder.draft_generation(second, 3)
    assert got == want, (
        f"after drafting on {first}, drafting on {second} gave {got}, a fresh decoder gives "
        f"{want}: rewind the draft cache to the longest common prefix ([1, 2]) of the two contexts"
    )
