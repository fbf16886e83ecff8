"""Week 1 Day 3 - drafting with a KV cache (book chapter week1-03-drafting)."""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.decoder import SpeculativeDecoder
from specdec_course.testing import (
    CountingModel,
    MarkovModel,
    assert_follows,
    exact_sequence_distribution,
    random_markov,
    tiny_llama,
    tiny_pair,
    untrimmable,
)
from specdec_course.testing.guards import zero_size
from specdec_course.testing.ties import logit_atol
from tests.w1_helpers import mlx_lm_greedy

# A test that runs past 60 s is a hang (e.g. a bad max_tokens let into the loop): fail it.
pytestmark = [pytest.mark.w1d3, pytest.mark.timeout(60)]


def make(k=4, seed=0, **kw):
    draft, target = tiny_pair(seed)
    return SpeculativeDecoder(CountingModel(draft), CountingModel(target), k, **kw)


class TestConstructor:
    def test_keeps_its_configuration(self):
        draft, target = tiny_pair(0)
        dec = SpeculativeDecoder(draft, target, 3, temperature=0.5, eos_token_id=7)
        assert dec.draft_model is draft, (
            "self.draft_model must be the draft model passed in (the first argument), not a copy, "
            "a wrapper or the target"
        )
        assert dec.target_model is target, (
            "self.target_model must be the target model passed in (the second argument), not a "
            "copy, a wrapper or the draft"
        )
        assert dec.lookahead == 3, (
            f"self.lookahead is {dec.lookahead!r}, expected 3: store the lookahead (K) argument"
        )
        assert dec.temperature == 0.5, (
            f"self.temperature is {dec.temperature!r}, expected 0.5: store the temperature argument"
        )

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
    @pytest.mark.parametrize("prompt", [[4], [5, 9, 2], list(range(20, 37))])
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
        assert dec.draft_model.tokens_per_call == [1, 1, 1], (
            f"a one-token context fed {dec.draft_model.tokens_per_call} tokens per call: there "
            "is nothing to prefill (the context minus its last token is empty), so make no "
            "prefill call and feed one token per step"
        )

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
        assert logits.dtype == mx.float32, (
            f"draft_logits has dtype {logits.dtype}: cast each logits row to float32 (models may "
            "compute in bfloat16/float16)"
        )
        full = dec.draft_model.wrapped(mx.array(context + drafts[:-1])[None])[0, -4:]
        # Cached 1-token steps vs one full pass: equal up to backend rounding (GPUs differ by
        # ~2e-3 here), while a row from the wrong position differs by O(1).
        atol = logit_atol(full)
        worst = float(np.max(np.abs(np.array(logits) - np.array(full))))
        assert worst <= atol, (
            f"draft_logits row i must be the draft's logits that produced draft token i (they differ "
            f"by up to {worst:.3g} > {atol:.2g} from the draft's logits at those positions: a row "
            "shifted by one, or logits after temperature/softmax?)"
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
        assert again == mlx_lm_greedy(dec.draft_model.wrapped, context, 3), (
            f"drafts after catch-up {again} are not the draft's greedy continuation of the "
            "grown context: when the first step feeds two tokens (d_K and the bonus), sample "
            "from the LAST logits row"
        )

    def test_sampled_drafts_are_reproducible(self):
        a = make(4, temperature=1.0).draft_generation([1, 2], 4, key=mx.random.key(3))
        b = make(4, temperature=1.0).draft_generation([1, 2], 4, key=mx.random.key(3))
        assert a == b, "the same key must give the same sampled drafts"

    def test_a_new_prompt_on_the_same_decoder(self):
        # The cache holds another context: positions that disagree must go.
        dec = make(3)
        dec.draft_generation([1, 2, 3, 4, 5, 6], 3)
        again = dec.draft_generation([7, 8, 10], 3)
        assert again == mlx_lm_greedy(dec.draft_model.wrapped, [7, 8, 10], 3), (
            "drafting after another prompt gave wrong tokens: trim the cached positions that do not "
            "match the new context before feeding it"
        )

    def test_zero_tokens(self):
        dec = make(0)
        with zero_size("num_tokens = 0", "return [] before any forward pass"):
            drafts = dec.draft_generation([1, 2], 0)
        assert drafts == [], "num_tokens=0 must return an empty list"
        assert dec.draft_model.calls == 0, (
            f"num_tokens=0 ran the draft {dec.draft_model.calls} time(s): return [] before any "
            "forward pass (no prefill either)"
        )


class TestSampledDrafting:
    """At T > 0 the draft tokens are samples from the DRAFT's softmax at T, step by step."""

    def test_two_sampled_drafts_follow_the_drafts_exact_joint_law(self):
        # 1500 fresh decoders with split keys, a Markov draft (exact law known), T = 0.6:
        # chi-square on the 16 pairs (d_1, d_2) at false-failure 1e-4.
        probs = random_markov(4, seed=5)
        draft, target = MarkovModel(probs), MarkovModel(probs)
        keys = mx.random.split(mx.random.key(31), 1500)
        counts = Counter(
            tuple(SpeculativeDecoder(draft, target, 2, temperature=0.6).draft_generation([2], 2, key=keys[i]))
            for i in range(1500)
        )
        assert_follows(counts, exact_sequence_distribution(probs, 2, 2, temperature=0.6),
                       what="two sampled draft tokens at T=0.6: sample each step from softmax(logits / T) of "
                            "the draft, with a fresh split of the key per step")

    def test_sampled_drafting_keeps_the_raw_logits(self):
        dec = SpeculativeDecoder(*tiny_pair(0), 3, temperature=0.5)
        drafts = dec.draft_generation([4, 8, 15], 3, key=mx.random.key(1))
        full = dec.draft_model(mx.array([4, 8, 15] + drafts[:-1])[None])[0, -3:]
        worst = float(np.max(np.abs(np.array(dec.draft_logits) - np.array(full))))
        assert worst <= logit_atol(full), (
            f"at T=0.5 draft_logits differ from the draft's logits by {worst:.3g}: keep the raw logits "
            "(verification applies the temperature itself), not logits / T or probabilities"
        )


class TestDraftCachePaths:
    """Every way the context can change between two drafting calls, on several seeds.

    Each test first checks that the right answer differs from what the bug would give on
    that seed, so it can never pass by coincidence.
    """

    # Seeds chosen so the bug's answer differs (the tiny models often continue the same way
    # whatever came two tokens back); the setup asserts it.
    @pytest.mark.parametrize("seed", [2, 3, 6])
    def test_catch_up_after_full_acceptance(self, seed):
        dec = make(3, seed)
        draft = dec.draft_model.wrapped
        context = [2, 7]
        drafts = dec.draft_generation(context, 3)
        assert len(drafts) == 3, f"draft_generation(context, 3) returned {drafts}: want 3 tokens"
        bonus = (drafts[-1] + 11) % 64
        context = context + drafts + [bonus]
        right = mlx_lm_greedy(draft, context, 3)
        skipped_dk = mlx_lm_greedy(draft, context[:-2] + [bonus], 3, clear_margin=False)
        assert right != skipped_dk, "test setup: this seed cannot tell the bug from the fix"
        dec.draft_model.reset()
        again = dec.draft_generation(context, 3)
        assert again == right, (
            f"after a fully accepted round the drafts were {again}, want {right}: the cache lacks d_K "
            "AND the bonus token, feed both (context[cache offset:])"
        )
        assert dec.draft_model.tokens_per_call == [2, 1, 1], (
            f"catch-up fed {dec.draft_model.tokens_per_call} tokens per call: feed only what the cache lacks"
        )

    @pytest.mark.parametrize("seed", [0, 3, 5])
    def test_after_a_rejected_round(self, seed):
        dec = make(4, seed)
        draft = dec.draft_model.wrapped
        context = [2, 7]
        drafts = dec.draft_generation(context, 4)
        assert len(drafts) == 4, f"draft_generation(context, 4) returned {drafts}: want 4 tokens"
        correction = (drafts[1] + 9) % 64  # d_2 rejected, replaced by another token
        context = context + drafts[:1] + [correction]
        right = mlx_lm_greedy(draft, context, 3)
        untrimmed = mlx_lm_greedy(draft, [2, 7] + drafts[:3] + [correction], 3, clear_margin=False)
        assert right != untrimmed, "test setup: this seed cannot tell the bug from the fix"
        dec.draft_model.reset()
        again = dec.draft_generation(context, 3)
        assert again == right, (
            f"after a rejection the drafts were {again}, want {right}: trim the rejected drafts "
            "d_2.. from the draft cache before feeding the correction"
        )
        assert dec.draft_model.tokens_per_call == [1, 1, 1], (
            f"fed {dec.draft_model.tokens_per_call} tokens per call: after trimming, only the correction "
            "is missing from the cache"
        )

    @pytest.mark.parametrize("seed", [1, 2, 5])
    def test_a_new_prompt(self, seed):
        dec = make(3, seed)
        draft = dec.draft_model.wrapped
        dec.draft_generation([1, 2, 3, 4, 5, 6], 3)
        new = [1, 2, 9, 30]  # shares its first two tokens with the old prompt
        right = mlx_lm_greedy(draft, new, 3)
        stale = mlx_lm_greedy(draft, [1, 2, 3, 30], 3, clear_margin=False)
        assert right != stale, "test setup: this seed cannot tell the bug from the fix"
        dec.draft_model.reset()
        again = dec.draft_generation(new, 3)
        assert again == right, (
            f"a new prompt gave drafts {again}, want {right}: compare the cached tokens with the new "
            "context and trim from the first difference"
        )
        assert dec.draft_model.tokens_per_call == [2, 1, 1], (
            f"fed {dec.draft_model.tokens_per_call} tokens per call: keep the shared prefix [1, 2] and feed "
            "only the rest"
        )


class TestEveryBadArgument:
    """Each rejected value of each argument, with every other optional argument given."""

    # A bad count let through (NaN, 2.0) can make a generation loop never end: fail in 10 s
    # (pytest-timeout) instead of hanging the suite.
    pytestmark = pytest.mark.timeout(10)

    GOOD = {"lookahead": 3, "temperature": 0.5, "eos_token_id": 7}
    BAD = [("lookahead", v, e) for v, e in [(-1, ValueError), (2.0, TypeError), ("4", TypeError),
                                            (True, TypeError), (float("nan"), TypeError), (None, TypeError)]] + [
        ("temperature", v, e) for v, e in [(-1.0, ValueError), (float("nan"), ValueError),
                                           (float("inf"), ValueError), (float("-inf"), ValueError),
                                           ("0.5", TypeError), (None, TypeError)]
    ] + [("eos_token_id", v, TypeError) for v in ([1.5], "x")]

    @pytest.mark.parametrize("name,bad,exc", BAD, ids=lambda v: repr(v)[:12])
    def test_constructor_rejects(self, name, bad, exc):
        draft, target = (CountingModel(m) for m in tiny_pair(0))
        kwargs = {**self.GOOD, name: bad}
        with pytest.raises(exc):
            SpeculativeDecoder(draft, target, **kwargs)
        assert draft.calls == target.calls == 0, f"refuse {name}={bad!r} before any model runs"

    @pytest.mark.parametrize("bad,exc", [(-1, ValueError), (2.0, TypeError), (True, TypeError), (None, TypeError)],
                             ids=repr)
    @pytest.mark.parametrize("temperature", [0.0, 0.8])
    def test_draft_generation_rejects_num_tokens(self, bad, exc, temperature):
        dec = make(3, temperature=temperature)
        with pytest.raises(exc, match="num_tokens"):
            dec.draft_generation([1, 2], bad, key=mx.random.key(0))
        assert dec.draft_model.calls == 0, "refuse a bad num_tokens before the draft runs"

    @pytest.mark.parametrize("prompt,exc", [([], ValueError), (mx.array([[1, 2]]), ValueError),
                                            (mx.array([1.0, 2.0]), TypeError)], ids=["empty", "2-D", "float"])
    def test_draft_generation_rejects_prompt(self, prompt, exc):
        dec = make(3, temperature=0.8)
        with pytest.raises(exc):
            dec.draft_generation(prompt, 2, key=mx.random.key(0))
        assert dec.draft_model.calls == 0, "refuse a bad prompt before the draft runs"
