"""Hidden tests, Week 4 Day 3 (instructor-only).

What the public tests do not show: several EOS ids, an untrimmable DRAFT cache,
a negative or fractional max_tokens, and a 2-D draft given to greedy_verdict.
"""

import mlx.core as mx
import pytest

from specdec.fastloop import fast_generate, greedy_verdict
from specdec_course.testing import CountingModel, ScriptedModel, untrimmable

pytestmark = pytest.mark.w4d3

PROMPT, CONTINUATION = [1, 2], [5, 6, 15, 7, 8, 9, 10, 11]


def _pair() -> tuple[CountingModel, CountingModel]:
    """(draft, target): the draft is wrong at the 4th token (8 instead of 7); logit 20 vs 0."""
    target = ScriptedModel.for_prompt(16, PROMPT, CONTINUATION, default=0)
    draft = ScriptedModel.for_prompt(16, PROMPT, [5, 6, 15, 8, 8, 9, 10, 11], default=0)
    return CountingModel(draft), CountingModel(target)


def test_several_eos_ids():
    # Bug caught: `token == eos_token_id` instead of membership in the set of EOS ids: with a
    # list of ids generation never stops (the public tests pass one int).
    draft, target = _pair()
    result = fast_generate(draft, target, PROMPT, 8, lookahead=4, eos_token_id=[7, 15])
    assert result.tokens == [5, 6, 15] and result.finish_reason == "eos", (
        f"eos_token_id=[7, 15]: got {result.tokens} ({result.finish_reason!r}), want [5, 6, 15] "
        "('eos'): ANY of the ids ends generation, even inside accepted drafts"
    )


def test_an_untrimmable_draft_cache_is_refused_up_front():
    # Bug caught: only the target's cache checked for trimming: with an untrimmable draft the
    # loop runs both models and dies at the first rejection (or keeps stale drafts).
    draft, target = _pair()
    with pytest.raises(ValueError, match="trim"):
        fast_generate(untrimmable(draft), target, PROMPT, 8, lookahead=4)
    assert draft.calls == target.calls == 0, (
        f"{draft.calls} draft and {target.calls} target calls before the error: check that both "
        "caches can be trimmed before any model runs"
    )


@pytest.mark.parametrize("max_tokens,exc", [(-1, ValueError), (2.5, TypeError)])
def test_a_bad_max_tokens_is_refused_up_front(max_tokens, exc):
    # Bug caught: max_tokens never validated: -1 quietly prefills the target and returns
    # nothing, 2.5 fails somewhere inside the loop with an unrelated message.
    draft, target = _pair()
    with pytest.raises(exc, match="max_tokens"):
        fast_generate(draft, target, PROMPT, max_tokens, lookahead=4)
    assert draft.calls == target.calls == 0, (
        f"max_tokens={max_tokens!r}: {target.calls} target calls before the error: validate it "
        "(check_count) before any model runs"
    )


def test_greedy_verdict_refuses_a_2d_draft():
    # Bug caught: only the logits' row count compared with K: a (K, 1) draft broadcasts
    # against the (K,) choices and returns a meaningless verdict instead of a clear error.
    logits = mx.where(mx.arange(8)[None] == mx.array([1, 2, 3])[:, None], 5.0, 0.0)
    with pytest.raises(ValueError, match="draft_tokens|K"):
        greedy_verdict(mx.array([[1], [2]], dtype=mx.int32), logits)
