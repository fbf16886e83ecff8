"""Week 1 Day 3 - drafting with a KV cache (book chapter week1-03-drafting)."""

import mlx.core as mx
import numpy as np
import pytest

from specdec.decoder import SpeculativeDecoder
from specdec_course.testing import CountingModel, tiny_llama, tiny_pair, untrimmable
from tests.w1_helpers import mlx_lm_greedy

pytestmark = pytest.mark.w1d3


def make(k=4, seed=0, **kw):
    draft, target = tiny_pair(seed)
    return SpeculativeDecoder(CountingModel(draft), CountingModel(target), k, **kw)


class TestConstructor:
    def test_keeps_its_configuration(self):
        draft, target = tiny_pair(0)
        dec = SpeculativeDecoder(draft, target, 3, temperature=0.5, eos_token_id=7)
        assert dec.draft_model is draft and dec.target_model is target
        assert dec.lookahead == 3 and dec.temperature == 0.5

    @pytest.mark.parametrize("k,exc", [(-1, ValueError), (2.0, TypeError), ("4", TypeError), (True, TypeError)])
    def test_rejects_bad_lookahead(self, k, exc):
        draft, target = tiny_pair(0)
        with pytest.raises(exc, match="lookahead"):
            SpeculativeDecoder(draft, target, k)

    def test_rejects_bad_temperature(self):
        draft, target = tiny_pair(0)
        with pytest.raises(ValueError, match="temperature"):
            SpeculativeDecoder(draft, target, 2, temperature=-1.0)

    def test_rejects_mismatched_vocabularies_before_running(self):
        draft, target = CountingModel(tiny_llama(0, vocab_size=32)), CountingModel(tiny_llama(0, vocab_size=64))
        with pytest.raises(ValueError, match="vocabular"):
            SpeculativeDecoder(draft, target, 2)
        assert draft.calls == target.calls == 0, "refuse before any model runs"

    @pytest.mark.parametrize("which", ["draft", "target"])
    def test_rejects_untrimmable_cache_before_running(self, which):
        draft, target = tiny_pair(0)
        if which == "draft":
            draft = untrimmable(draft)
        else:
            target = untrimmable(target)
        with pytest.raises(ValueError, match="trim"):
            SpeculativeDecoder(draft, target, 2)


    def test_rejects_a_sliding_window_cache(self):
        # A RotatingKVCache claims to be trimmable until it wraps, then trims nothing.
        from mlx_lm.models.cache import RotatingKVCache

        class SlidingWindow:
            def __init__(self, model):
                self.model, self.layers = model, model.layers

            def __call__(self, *args, **kwargs):
                return self.model(*args, **kwargs)

            def make_cache(self):
                return [RotatingKVCache(max_size=16) for _ in self.layers]

        draft, target = tiny_pair(0)
        with pytest.raises(ValueError, match="trim"):
            SpeculativeDecoder(draft, SlidingWindow(target), 2)


class TestDraftGeneration:
    @pytest.mark.parametrize("prompt", [[3], [5, 9, 2], list(range(20, 37))])
    @pytest.mark.parametrize("k", [1, 4, 7])
    def test_drafts_are_the_draft_models_greedy_continuation(self, prompt, k):
        dec = make(k)
        drafts = dec.draft_generation(mx.array(prompt), k)
        want = mlx_lm_greedy(dec.draft_model.wrapped, prompt, k)
        assert drafts == want, f"draft tokens {drafts} != the draft model's own greedy continuation {want}"
        assert all(type(t) is int for t in drafts), "return Python ints"

    def test_k_single_token_calls_after_one_prefill(self):
        dec = make(5)
        dec.draft_generation(mx.array([1, 2, 3, 4, 5, 6]), 5)
        calls = dec.draft_model.tokens_per_call
        assert calls == [5, 1, 1, 1, 1, 1], (
            f"draft calls fed {calls} tokens: expected one prefill of the context minus its last token (5), "
            "then K=5 calls of ONE token each. Never re-run the whole prefix"
        )
        assert dec.target_model.calls == 0, "drafting must not call the target"

    def test_single_token_prompt_needs_no_prefill(self):
        dec = make(3)
        dec.draft_generation([9], 3)
        assert dec.draft_model.tokens_per_call == [1, 1, 1]

    def test_cache_offset_after_drafting(self):
        dec = make(4)
        dec.draft_generation([1, 2, 3], 4)
        assert dec.draft_cache[0].offset == 3 + 4 - 1, (
            f"draft cache offset {dec.draft_cache[0].offset}: it should hold the 3 context tokens and "
            "d_1..d_3 (the last draft token has not been fed yet)"
        )

    def test_keeps_the_draft_logits(self):
        dec = make(4)
        context = [4, 8, 15, 16]
        drafts = dec.draft_generation(context, 4)
        logits = dec.draft_logits
        assert logits is not None and logits.shape == (4, 64), f"draft_logits must be (K, V) = (4, 64), got {logits}"
        assert logits.dtype == mx.float32
        full = dec.draft_model.wrapped(mx.array(context + drafts[:-1])[None])[0, -4:]
        assert np.allclose(np.array(logits), np.array(full), atol=1e-4), (
            "draft_logits row i must be the draft's logits that produced draft token i"
        )

    def test_catches_up_after_full_acceptance(self):
        # After a fully accepted round the context grew by d_1..d_K plus a bonus
        # token; the cache lacks d_K and the bonus, so the first call feeds both.
        dec = make(3)
        context = [2, 7]
        drafts = dec.draft_generation(context, 3)
        context = context + drafts + [11]
        dec.draft_model.reset()
        again = dec.draft_generation(context, 3)
        assert dec.draft_model.tokens_per_call == [2, 1, 1], (
            f"catch-up fed {dec.draft_model.tokens_per_call}: feed only the tokens the cache lacks "
            "(d_K and the bonus), then one token per step"
        )
        assert again == mlx_lm_greedy(dec.draft_model.wrapped, context, 3)

    def test_sampled_drafts_are_reproducible(self):
        a = make(4, temperature=1.0).draft_generation([1, 2], 4, key=mx.random.key(3))
        b = make(4, temperature=1.0).draft_generation([1, 2], 4, key=mx.random.key(3))
        assert a == b, "the same key must give the same sampled drafts"

    def test_a_new_prompt_on_the_same_decoder(self):
        # The cache holds another context: positions that disagree must go.
        dec = make(3)
        dec.draft_generation([1, 2, 3, 4, 5, 6], 3)
        again = dec.draft_generation([7, 8, 9], 3)
        assert again == mlx_lm_greedy(dec.draft_model.wrapped, [7, 8, 9], 3), (
            "drafting after another prompt gave wrong tokens: trim the cached positions that do not "
            "match the new context before feeding it"
        )

    def test_zero_tokens(self):
        dec = make(0)
        assert dec.draft_generation([1, 2], 0) == []
        assert dec.draft_model.calls == 0
