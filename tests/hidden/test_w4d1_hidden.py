"""Hidden tests, Week 4 Day 1 (instructor-only).

What the public tests do not show: sampling with the default key, a drafter
reused for a second generation, the n-gram drafter's counters (k = 0 and
reset), max_tokens = 0, and several EOS ids.
"""

import mlx.core as mx
import pytest

from specdec.lookup import ModelDrafter, lookup_generate
from specdec.ngram import NgramDrafter
from specdec_course.testing import CountingModel, MarkovModel, ScriptedModel, random_markov

pytestmark = pytest.mark.w4d1


def _cycle(vocab: int = 16, period: int = 6) -> ScriptedModel:
    """Greedy continuation of token t is (t + 1) mod period: a context that repeats itself."""
    return ScriptedModel(vocab, lambda i, history: (history[-1] + 1) % period)


def _history_model(salt: int) -> ScriptedModel:
    # Every prediction depends on the whole history, so stale cache entries would show.
    return ScriptedModel(16, lambda i, history: (sum(history) * 5 + 3 * i + salt) % 16)


def test_sampling_with_the_default_key():
    # Bug caught: the round's keys split with mx.random.split only when sampling, without
    # handling key=None: crashes at T > 0 with the default key (the public sampling tests
    # always pass one).
    mx.random.seed(7)
    result = lookup_generate(
        MarkovModel(random_markov(4, seed=3)),
        [1, 2, 1, 2, 1],
        6,
        drafter=NgramDrafter(4),
        lookahead=2,
        temperature=0.7,
    )
    assert len(result.tokens) == 6 and result.tokens_drafted > 0, (
        f"T=0.7 with key=None must sample from the global RNG (split only a real key), got "
        f"{result.tokens}"
    )


def test_a_reused_drafter_equals_a_fresh_one():
    # Bug caught: lookup_generate does not call drafter.reset() first: a ModelDrafter reused
    # for a second prompt carries its draft_calls (and cache) over from the first.
    target, draft = _history_model(0), _history_model(1)
    fresh = lookup_generate(target, [4, 5], 12, drafter=ModelDrafter(draft), lookahead=3)
    drafter = ModelDrafter(draft)
    lookup_generate(target, [1, 2, 3, 7], 9, drafter=drafter, lookahead=3)
    again = lookup_generate(target, [4, 5], 12, drafter=drafter, lookahead=3)
    assert fresh.draft_calls > 0, "test setup: the draft model must run"
    assert again == fresh, (
        f"the same ModelDrafter reused for a second prompt gave {again}, a fresh one {fresh}: "
        "reset the drafter at the start of every generation"
    )


def test_ngram_drafter_counters():
    # Bugs caught: a k = 0 request counted as a miss (nothing was asked for), and reset()
    # zeroing draft_calls but not hits / misses.
    drafter = NgramDrafter(8)
    assert drafter.propose([1, 2, 1], 0)[0] == [], (
        "propose(context, 0) asks for no tokens: return [] (and a (0, V) logits array)"
    )
    assert (drafter.hits, drafter.misses) == (0, 0), (
        f"propose(context, 0) counted hits={drafter.hits}, misses={drafter.misses}: a request "
        "for no tokens is neither a hit nor a miss"
    )
    drafter.propose([1, 2, 1], 2)
    drafter.propose([1, 2, 3], 2)
    assert (drafter.hits, drafter.misses) == (1, 1), "test setup: one hit, one miss"
    drafter.reset()
    assert (drafter.hits, drafter.misses, drafter.draft_calls) == (0, 0, 0), (
        f"after reset(): hits={drafter.hits}, misses={drafter.misses}: reset zeroes every counter"
    )


def test_max_tokens_zero_runs_nothing():
    # Bug caught: the target prefilled before max_tokens == 0 is looked at (a wasted call).
    target = CountingModel(_cycle())
    result = lookup_generate(target, [0, 1, 2, 0, 1], 0, drafter=NgramDrafter(16))
    assert result.tokens == [] and result.rounds == 0, f"got {result.tokens}"
    assert target.calls == 0 and result.target_calls == 0, (
        f"max_tokens=0 made {target.calls} target calls: return before the prefill"
    )


def test_several_eos_ids():
    # Bug caught: `token == eos_token_id` instead of membership in the set of EOS ids: with a
    # list of ids generation never stops (the public tests pass one int).
    result = lookup_generate(
        _cycle(), [0, 1, 2, 3, 4, 5, 0], 20, drafter=NgramDrafter(16), eos_token_id=[4, 3]
    )
    assert result.tokens == [1, 2, 3] and result.finish_reason == "eos", (
        f"eos_token_id=[4, 3]: got {result.tokens} ({result.finish_reason!r}), want [1, 2, 3] "
        "('eos'): ANY of the ids ends generation, even inside accepted drafts"
    )
