"""Week 4 Day 1 - prompt lookup: drafting without a draft model (chapter week4-01-prompt-lookup)."""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.decoder import SpeculativeDecoder
from specdec.lookup import FallbackDrafter, ModelDrafter, lookup_generate
from specdec.ngram import NgramDrafter, find_ngram_match, one_hot_logits
from specdec_course.api.drafting import Drafter
from specdec_course.testing import (
    CountingModel,
    MarkovModel,
    ScriptedModel,
    assert_follows,
    exact_sequence_distribution,
    perturbed,
    random_markov,
    tiny_pair,
)
from specdec_course.testing.diffs import token_mismatch
from specdec_course.testing.guards import zero_size
from specdec_course.testing.ties import assert_greedy_equal_or_tie
from tests.w1_helpers import BUNDLED_PROMPTS, bundled_greedy, bundled_pair, mlx_lm_greedy

pytestmark = pytest.mark.w4d1


def first_difference(a, b):
    pairs = enumerate(zip(a, b, strict=False))
    return next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))


def cyclic_script(vocab, period):
    """A target whose greedy continuation after token t is (t + 1) mod period: it repeats."""
    return ScriptedModel(vocab, lambda i, history: (history[-1] + 1) % period)


class TestFindNgramMatch:
    def test_most_recent_occurrence(self):
        context = [1, 2, 3, 9, 1, 2, 3, 7, 1, 2, 3]
        got = find_ngram_match(context, 2)
        assert got == [7, 1], (
            f"got {got}: the 3-gram [1, 2, 3] occurs at 0 (followed by 9) and at 4 (followed by "
            "7); propose what followed the MOST RECENT earlier occurrence"
        )

    def test_longest_ngram_first(self):
        context = [5, 6, 7, 8, 6, 9, 5, 6]
        assert find_ngram_match(context, 2, max_ngram=2) == [7, 8], (
            "the 2-gram [5, 6] reoccurs (followed by 7, 8): try n = max_ngram first and only "
            "fall back to shorter tails when it has no match (here the 1-gram [6] would give 9)"
        )
        assert find_ngram_match(context, 2, max_ngram=1) == [9, 5], (
            "with max_ngram=1 only the 1-gram tail [6] may be tried: its most recent earlier "
            "occurrence (position 4) is followed by 9, 5; never try tails longer than max_ngram"
        )

    def test_fewer_than_k_tokens_available(self):
        got = find_ngram_match([1, 2, 3, 1, 2], 5)
        assert got == [3, 1, 2], (
            f"got {got}: after the match [1, 2] at 0 only 3 context tokens follow; return them "
            "(fewer than k), without padding or running past the end"
        )
        assert find_ngram_match([7, 7, 7], 3) == [7], (
            "in [7, 7, 7] the 2-gram tail [7, 7] last occurred at 0, followed by one token: "
            "a match may overlap the tail but must be followed by at least one token"
        )

    @pytest.mark.parametrize("context", [[1, 2, 3, 4], [5], []], ids=["distinct", "one", "empty"])
    def test_no_match_is_an_empty_proposal(self, context):
        assert find_ngram_match(context, 4) == [], (
            "no tail of the context reoccurs earlier: propose nothing (and do not match the "
            "tail with itself)"
        )

    def test_min_ngram(self):
        context = [4, 1, 2, 9, 2]
        assert find_ngram_match(context, 2, max_ngram=3, min_ngram=2) == [], (
            "only the 1-gram [2] reoccurs; with min_ngram=2 shorter tails must not be tried"
        )
        assert find_ngram_match(context, 2, max_ngram=3, min_ngram=1) == [9, 2], (
            "with min_ngram=1 the 1-gram tail [2] matches at position 2 (followed by 9, 2): try "
            "every tail length from max_ngram down to min_ngram"
        )

    def test_k_zero(self):
        with zero_size("k = 0", "return [] (k = 0 asks for no tokens)"):
            got = find_ngram_match([1, 2, 1], 0)
        assert got == [], f"k = 0 asks for no tokens: return [], got {got}"

    @pytest.mark.parametrize(
        "kwargs,exc,match",
        [
            (dict(k=2, max_ngram=1, min_ngram=2), ValueError, "max_ngram"),
            (dict(k=2, max_ngram=2, min_ngram=0), ValueError, "min_ngram"),
            (dict(k=-1), ValueError, "k"),
            (dict(k=2.0), TypeError, "k"),
        ],
    )
    def test_bad_arguments(self, kwargs, exc, match):
        k = kwargs.pop("k")
        with pytest.raises(exc, match=match):
            find_ngram_match([1, 2, 1], k, **kwargs)


class TestOneHot:
    @pytest.mark.parametrize("temperature", [1.0, 0.7, 2.0])
    def test_softmax_is_one_hot_and_finite(self, temperature):
        logits = one_hot_logits([3, 0, 3], 6)
        assert logits.shape == (3, 6) and logits.dtype == mx.float32, (
            f"one row per token, float32 (3, V): got {logits.shape} {logits.dtype}"
        )
        assert bool(mx.all(mx.isfinite(logits)).item()), (
            "use a large finite negative number (ONE_HOT_OFF), not -inf: softmax of -inf rows "
            "minus their max gives NaN"
        )
        probs = np.array(mx.softmax(logits / temperature, axis=-1))
        np.testing.assert_array_equal(probs, np.eye(6)[[3, 0, 3]])

    def test_empty(self):
        with zero_size("no tokens", "return an empty float32 (0, V) array"):
            got = one_hot_logits([], 6).shape
        assert got == (0, 6), f"no tokens: an empty (0, V) = (0, 6) array, got {got}"

    def test_drafter_proposal(self):
        drafter = NgramDrafter(6)
        assert isinstance(drafter, Drafter), (
            "NgramDrafter must follow the Drafter protocol: a draft_calls attribute set in "
            "__init__, reset() and propose(context, k, *, key=None)"
        )
        tokens, logits = drafter.propose([1, 2, 3, 1, 2], 2)
        assert tokens == [3, 1] and logits.shape == (2, 6), (
            f"got {tokens}, logits {logits.shape}: propose find_ngram_match's tokens ([3, 1]) "
            "with one one-hot row each, (2, V)"
        )
        assert mx.argmax(logits, axis=-1).tolist() == tokens, (
            "row i of the logits must put its mass on tokens[i] (one_hot_logits of the tokens)"
        )
        missed = drafter.propose([1, 2, 3], 2)[0]
        assert missed == [] and (drafter.hits, drafter.misses) == (1, 1), (
            f"proposed {missed}, hits/misses {(drafter.hits, drafter.misses)} after one match and "
            "one miss: want [] and (1, 1)"
        )
        assert drafter.draft_calls == 0, "prompt lookup runs no model: draft_calls stays 0"

    def test_k_zero_is_neither_hit_nor_miss(self):
        drafter = NgramDrafter(6)
        with zero_size("k = 0", "propose [] and an empty (0, V) array"):
            tokens, logits = drafter.propose([1, 2, 3, 1, 2], 0)
        assert tokens == [] and logits.shape == (0, 6), (
            f"k = 0: propose nothing, an empty (0, V) array: got {tokens}, {logits.shape}"
        )
        assert (drafter.hits, drafter.misses) == (0, 0), (
            f"hits/misses {(drafter.hits, drafter.misses)} after one k = 0 request: a k = 0 "
            "request asks for nothing, so it is neither a hit nor a miss (want (0, 0))"
        )


class _FixedDrafter:
    """A Drafter that always proposes ``k`` copies of one token and counts its proposals."""

    def __init__(self, token: int, vocab: int):
        self.token, self.vocab_size, self.draft_calls = token, vocab, 0

    def reset(self) -> None:
        self.draft_calls = 0

    def propose(self, context, k, *, key=None):
        self.draft_calls += 1
        return [self.token] * k, one_hot_logits([self.token] * k, self.vocab_size)


class TestGreedyIsLossless:
    @pytest.mark.parametrize("k", [1, 5])
    @pytest.mark.parametrize(
        "seed,prompt",
        [(0, [2, 5, 8, 2, 5, 8, 2, 5]), (1, [3, 9, 4, 3, 9, 4, 3, 9]), (3, [10, 20, 30, 10, 20])],
    )
    def test_tiny_target(self, seed, prompt, k):
        _, target = tiny_pair(seed)
        # mlx_lm_greedy refuses (NearTieError) a seed/prompt whose greedy run has a near-tie.
        want = mlx_lm_greedy(target, prompt, 30)
        drafter = NgramDrafter(target.args.vocab_size)
        result = lookup_generate(target, prompt, 30, drafter=drafter, lookahead=k)
        assert result.tokens == want, token_mismatch(
            result.tokens,
            want,
            "the target cache not rewound to the accepted length, or [last token, *proposal] "
            "not verified in one call",
            what=f"K={k}: output against target-only greedy",
        )
        assert result.tokens_drafted > 0, "the repeating prompt must give n-gram proposals"

    def test_scripted_cycle_is_mostly_accepted(self):
        target = cyclic_script(16, 5)
        prompt = [0, 1, 2, 3, 4, 0, 1]
        result = lookup_generate(target, prompt, 20, drafter=NgramDrafter(16), lookahead=4)
        assert result.tokens == [(2 + i) % 5 for i in range(20)], (
            f"got {result.tokens}: the output must be the target's greedy cycle 2, 3, 4, 0, 1, ..."
        )
        assert result.tokens_accepted == result.tokens_drafted > 0, (
            "a cycle already in the prompt is predicted exactly by prompt lookup: every proposed "
            "token should be accepted"
        )

    def test_bundled_pair(self):
        _, target, tokenizer = bundled_pair()
        prompt, want = bundled_greedy(BUNDLED_PROMPTS[0], 24)
        drafter = NgramDrafter(target.args.vocab_size)
        result = lookup_generate(target, prompt, 24, drafter=drafter, lookahead=4)
        # The real model may have near-ties: equal token for token except at named ones.
        assert_greedy_equal_or_tie(
            target, prompt, result.tokens, want, what="prompt lookup on the bundled target"
        )
        assert result.draft_calls == 0, (
            f"prompt lookup runs no draft model, but result.draft_calls = {result.draft_calls}: "
            "report the drafter's own draft_calls (0 for NgramDrafter)"
        )

    @pytest.mark.parametrize("k", [2, 5])
    def test_model_drafter_is_week1(self, k):
        draft, target = tiny_pair(2)
        prompt = [5, 9, 2]
        want = SpeculativeDecoder(draft, target, k).generate(prompt, 25)
        got = lookup_generate(target, prompt, 25, drafter=ModelDrafter(draft), lookahead=k)
        assert got == want, (
            "lookup_generate with a ModelDrafter must do exactly what the Week 1 loop does "
            f"(tokens, rounds, call counts); got {got}, want {want}. After a fully accepted "
            "round the draft cache lacks d_K and the bonus: the catch-up feeds both"
        )


class TestCalls:
    def test_one_target_call_per_round(self):
        target = CountingModel(cyclic_script(16, 6))
        result = lookup_generate(target, [0, 1, 2, 3, 9, 0], 20, drafter=NgramDrafter(16))
        assert target.calls == 1 + result.rounds, (
            f"{result.rounds} rounds made {target.calls} target calls: one prefill plus ONE "
            "verify call per round"
        )
        assert target.tokens_per_call[1:] == [d + 1 for d in result.drafted_per_round], (
            "each verify call feeds [last token, *proposal]: len(proposal) + 1 tokens"
        )
        assert 0 in result.drafted_per_round, (
            f"drafted_per_round={result.drafted_per_round}: a round without an n-gram match is "
            "still a round: verify the last token alone and record_round(0, 0)"
        )
        assert max(result.drafted_per_round) > 0, (
            f"drafted_per_round={result.drafted_per_round}: no round verified any proposed token; "
            "feed the drafter's proposal to the verify call and record its length"
        )

    def test_a_short_proposal_is_recorded_at_its_length(self):
        # The 2-gram [0, 1] last occurred at the start, followed by only [2, 0, 1]: a proposal of
        # 3 tokens although K = 4. Bug caught: recording K as drafted, which understates alpha.
        target = CountingModel(cyclic_script(16, 3))
        result = lookup_generate(target, [0, 1, 2, 0, 1], 8, drafter=NgramDrafter(16), lookahead=4)
        assert result.tokens == [2, 0, 1] * 2 + [2, 0], result.tokens
        assert result.drafted_per_round[0] == 3 and target.tokens_per_call[1] == 4, (
            f"drafted_per_round={result.drafted_per_round}: the first proposal had 3 tokens "
            "(K = 4): record the proposal's own length, not K"
        )
        assert result.tokens_drafted == sum(result.drafted_per_round), (
            f"tokens_drafted {result.tokens_drafted} != sum(drafted_per_round) "
            f"{sum(result.drafted_per_round)}: count rounds only with "
            "result.record_round(len(proposal), n)"
        )

    def test_no_draft_model_call_when_the_ngram_matches(self):
        target = cyclic_script(16, 4)
        draft = CountingModel(cyclic_script(16, 4))
        drafter = FallbackDrafter(NgramDrafter(16), ModelDrafter(draft))
        result = lookup_generate(target, [0, 1, 2, 3, 0, 1], 20, drafter=drafter, lookahead=3)
        assert draft.calls == 0 and drafter.fallbacks == 0, (
            f"the n-gram matched every round, yet the draft model ran {draft.calls} times: "
            "call the second drafter only when the first proposes nothing"
        )
        assert result.tokens == [(2 + i) % 4 for i in range(20)], (
            f"got {result.tokens}: the output must be the target's greedy cycle 2, 3, 0, 1, ..."
        )

    def test_fallback_only_when_the_first_proposes_nothing(self):
        second = _FixedDrafter(5, 8)
        drafter = FallbackDrafter(NgramDrafter(8), second)
        short = drafter.propose([4, 7, 4], 3)[0]  # the 1-gram [4] is followed by [7, 4] only
        assert short == [7, 4] and second.draft_calls == 0 and drafter.fallbacks == 0, (
            f"proposed {short} with {drafter.fallbacks} fallbacks: the n-gram proposed 2 of "
            "k = 3 tokens, which is a proposal; fall back only when the first drafter proposes "
            "NOTHING, not when it proposes fewer than k"
        )
        missed = drafter.propose([1, 2, 3], 3)[0]
        assert missed == [5, 5, 5] and drafter.fallbacks == 1, (
            f"proposed {missed} with {drafter.fallbacks} fallbacks: no n-gram match, so the "
            "second drafter proposes (want [5, 5, 5] and 1 fallback)"
        )

    def test_the_model_drafts_when_nothing_matches(self):
        # A target that never repeats a token: prompt lookup finds nothing, the model drafts.
        target = ScriptedModel(64, lambda i, history: (history[-1] + 1) % 64)
        draft = CountingModel(ScriptedModel(64, lambda i, history: (history[-1] + 1) % 64))
        drafter = FallbackDrafter(NgramDrafter(64), ModelDrafter(draft))
        result = lookup_generate(target, [10, 11, 12], 16, drafter=drafter, lookahead=3)
        assert result.tokens == list(range(13, 29)), (
            f"got {result.tokens}: with model drafts the output is still the target's 13, 14, ..."
        )
        assert draft.calls > 0 and drafter.fallbacks == result.rounds, (
            "with no n-gram match every round must fall back to the draft model"
        )
        assert result.draft_calls == draft.calls, "result.draft_calls: the drafter's model passes"

    def test_eos_inside_an_accepted_proposal(self):
        target = cyclic_script(16, 6)
        result = lookup_generate(
            target, [0, 1, 2, 3, 4, 5, 0], 20, drafter=NgramDrafter(16), eos_token_id=3
        )
        assert result.tokens == [1, 2, 3] and result.finish_reason == "eos", (
            f"got {result.tokens}: stop right after the EOS even inside accepted draft tokens"
        )


class TestSampledIsLossless:
    @pytest.mark.parametrize("temperature", [0.7])
    def test_ngram_drafts_keep_the_target_distribution(self, temperature):
        # A Markov target and a prompt full of repeats, so most rounds propose one-hot drafts;
        # the three emitted tokens must follow the target's exact joint law.
        probs = random_markov(4, seed=3)
        target = MarkovModel(probs)
        drafter = NgramDrafter(4)
        keys = mx.random.split(mx.random.key(5), 1000)
        counts, drafted = Counter(), 0
        for i in range(1000):
            r = lookup_generate(
                target,
                [1, 2, 1, 2, 1],
                3,
                drafter=drafter,
                lookahead=2,
                temperature=temperature,
                key=keys[i],
            )
            counts[tuple(r.tokens)] += 1
            drafted += r.tokens_drafted
        assert drafted > 1000, "the test needs n-gram proposals in most generations"
        assert_follows(
            counts,
            exact_sequence_distribution(probs, 1, 3, temperature=temperature),
            what=f"3 tokens at T={temperature} with prompt-lookup drafts: a one-hot proposal "
            "is accepted with probability p(d), and a rejection draws from p without d",
        )

    def test_fallback_keeps_the_target_distribution(self):
        probs = random_markov(4, seed=4)
        target = MarkovModel(probs)
        drafter = FallbackDrafter(
            NgramDrafter(4),
            ModelDrafter(MarkovModel(perturbed(probs, 0.5, seed=9)), temperature=1.0),
        )
        keys = mx.random.split(mx.random.key(6), 1000)
        counts, hits, fallbacks = Counter(), 0, 0
        for i in range(1000):
            # Nothing in the prompt repeats (the model drafts first); later tails often do.
            r = lookup_generate(
                target, [0, 3, 2, 1], 3, drafter=drafter, lookahead=2, temperature=1.0, key=keys[i]
            )
            counts[tuple(r.tokens)] += 1
            hits += drafter.first.hits
            fallbacks += drafter.fallbacks
        assert hits > 100 and fallbacks > 100, "the test needs both kinds of proposal"
        assert_follows(
            counts,
            exact_sequence_distribution(probs, 1, 3, temperature=1.0),
            what="3 tokens at T=1 with n-gram-or-model drafts",
        )


class TestBadInput:
    def _target(self):
        return CountingModel(tiny_pair(0)[1])

    def test_ngram_sizes(self):
        with pytest.raises(ValueError, match="max_ngram"):
            NgramDrafter(64, max_ngram=1, min_ngram=2)

    def test_negative_lookahead(self):
        target = self._target()
        with pytest.raises(ValueError, match="lookahead"):
            lookup_generate(target, [1, 2], 5, drafter=NgramDrafter(64), lookahead=-1)
        assert target.calls == 0, "check the arguments before running the target"

    def test_empty_prompt(self):
        target = self._target()
        with pytest.raises(ValueError, match="empty"):
            lookup_generate(target, [], 5, drafter=NgramDrafter(64))
        assert target.calls == 0, (
            f"the target ran {target.calls} time(s) before the empty-prompt error: validate the "
            "prompt before any forward pass"
        )

    def test_not_a_drafter(self):
        target = self._target()
        with pytest.raises(TypeError, match="drafter"):
            lookup_generate(target, [1, 2], 5, drafter=object())
        assert target.calls == 0, (
            f"the target ran {target.calls} time(s) before the TypeError: check that drafter is a "
            "Drafter before any forward pass"
        )

    def test_vocabulary_mismatch(self):
        target = self._target()
        with pytest.raises(ValueError, match="vocab|tokens"):
            lookup_generate(target, [1, 2], 5, drafter=NgramDrafter(10))
        assert target.calls == 0, (
            f"the target ran {target.calls} time(s) before the vocabulary error: compare the "
            "drafter's vocabulary with the target's before any forward pass"
        )
