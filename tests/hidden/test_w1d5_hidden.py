"""Hidden tests, Week 1 Day 5 (instructor-only).

What the public tests do not show: sampling with the default key, a decoder
reused for a second prompt, an EOS as the bonus token, and K capped so no
draft work is wasted at the end.
"""

import mlx.core as mx
import pytest

from specdec.decoder import SpeculativeDecoder
from specdec_course.testing import CountingModel, MarkovModel, ScriptedModel, random_markov

pytestmark = pytest.mark.w1d5


def test_sampling_with_the_default_key():
    # Bug caught: mx.random.split(key) on key=None in the loop crashes at T > 0.
    target = MarkovModel(random_markov(6, seed=1, concentration=2.0))
    draft = MarkovModel(random_markov(6, seed=2, concentration=2.0))
    mx.random.seed(2)
    result = SpeculativeDecoder(draft, target, 3, temperature=1.0).generate([1, 2], 10)
    assert len(result.tokens) == 10, f"want 10 sampled tokens with key=None, got {result.tokens}"


def _history_model() -> ScriptedModel:
    return ScriptedModel(16, lambda i, history: (sum(history) * 5 + i) % 16)


def test_a_reused_decoder_equals_a_fresh_one():
    # Bug caught: caches, the draft record or draft_calls not reset when generate starts.
    fresh = SpeculativeDecoder(_history_model(), _history_model(), 3).generate([4, 5], 12)
    decoder = SpeculativeDecoder(_history_model(), _history_model(), 3)
    decoder.generate([1, 2, 3, 7, 7], 9)
    again = decoder.generate([4, 5], 12)
    assert again.tokens == fresh.tokens, (
        f"a decoder reused for a second prompt gave {again.tokens}, a fresh one {fresh.tokens}: "
        "start every generate() with fresh caches"
    )
    assert again.draft_calls == fresh.draft_calls and again.target_calls == fresh.target_calls, (
        f"counts of the second generate() must not include the first: draft_calls "
        f"{again.draft_calls} vs {fresh.draft_calls}, target_calls {again.target_calls} vs "
        f"{fresh.target_calls}"
    )


def test_eos_as_the_bonus_token_stops_there():
    # Bug caught: EOS looked for only among accepted drafts / the correction, not the bonus.
    model = ScriptedModel.for_prompt(12, [1, 2], [5, 6, 7, 11, 3, 4, 3, 4], default=0)
    result = SpeculativeDecoder(model, model, 3, eos_token_id=11).generate([1, 2], 8)
    assert result.tokens == [5, 6, 7, 11] and result.finish_reason == "eos", (
        f"drafts 5 6 7 are accepted and the bonus token is the EOS 11: want [5, 6, 7, 11] and "
        f"'eos', got {result.tokens} and {result.finish_reason!r}"
    )


def test_lookahead_is_capped_so_no_draft_is_wasted():
    # Bug caught: drafting the full K near max_tokens and throwing the surplus away.
    model = ScriptedModel.for_prompt(12, [1, 2], [5, 6, 7, 8, 9, 10], default=0)
    draft = CountingModel(model)
    result = SpeculativeDecoder(draft, model, 8).generate([1, 2], 3)
    assert result.tokens == [5, 6, 7], f"got {result.tokens}"
    assert result.tokens_drafted == 2 and result.rounds == 1, (
        f"max_tokens=3: one round with K capped to 2 (2 drafts + the bonus); got "
        f"{result.tokens_drafted} drafted in {result.rounds} rounds"
    )
    assert draft.total_tokens <= 1 + 2, (
        f"the draft processed {draft.total_tokens} tokens: draft at most 2 (after a 1-token "
        "prefill) when 3 tokens are wanted"
    )
