"""Week 1 Day 5 - the full lossless loop (book chapter week1-05-loop)."""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.decoder import SpeculativeDecoder
from specdec_course.testing import (
    CountingModel,
    MarkovModel,
    ScriptedModel,
    exact_next_distribution,
    exact_sequence_distribution,
    perturbed,
    random_markov,
    tiny_pair,
)
from specdec_course.testing.diffs import token_mismatch
from specdec_course.testing.guards import zero_size
from specdec_course.testing.stats import assert_follows
from specdec_course.testing.ties import assert_greedy_equal_or_tie
from tests.w1_helpers import BUNDLED_PROMPTS, bundled_greedy, bundled_pair, mlx_lm_greedy

# A test that runs past 60 s is a hang (e.g. a bad max_tokens let into the loop): fail it.
pytestmark = [pytest.mark.w1d5, pytest.mark.timeout(60)]


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


class TestGreedyIsLossless:
    # (seed, prompt) pairs whose 30-token target greedy run has a clear winner at every step
    # (mlx_lm_greedy raises NearTieError otherwise): on a GPU a near-tie may flip between a
    # (K+1)-token verify pass and 1-token steps, so equality there would be luck.
    @pytest.mark.parametrize("k", [1, 3, 8])
    @pytest.mark.parametrize("seed,prompt", [
        (0, [3]), (4, [3]), (7, [5, 9, 2]), (4, [5, 9, 2]), (1, list(range(11, 28))), (5, list(range(11, 28))),
    ], ids=["s0-len1", "s4-len1", "s7-len3", "s4-len3", "s1-len17", "s5-len17"])
    def test_equals_target_greedy(self, seed, k, prompt):
        draft, target = tiny_pair(seed)
        want = mlx_lm_greedy(target, prompt, 30)
        result = SpeculativeDecoder(draft, target, k).generate(mx.array(prompt), 30)
        assert result.tokens == want, token_mismatch(
            result.tokens, want,
            "the target cache not rewound to len(context) - 1 after a round (or the draft cache "
            "to the common prefix), the verify pass not fed [last token, d_1 .. d_K] in that "
            "order, or the wrong row of the target logits used for a draft position",
            what=f"K={k}: speculative output against target-only greedy",
        )

    # Two cases keep the day under 15 s with the 12-layer bundled target; the tiny
    # models above cover the K grid.
    @pytest.mark.parametrize("text,k", [(BUNDLED_PROMPTS[0], 1), (BUNDLED_PROMPTS[1], 6)])
    def test_bundled_pair(self, text, k):
        draft, target, _ = bundled_pair()
        prompt, want = bundled_greedy(text, 24)
        result = SpeculativeDecoder(draft, target, k).generate(mx.array(prompt), 24)
        # bfloat16 on a GPU: a (K+1)-token verify pass and 1-token steps round differently, so
        # equality holds token for token except at named near-ties (see the Day 5 chapter).
        assert_greedy_equal_or_tie(target, prompt, result.tokens, want,
                                   what=f"K={k} on the bundled pair: output differs from target greedy")
        assert result.target_calls < 1 + 24, "speculation should need fewer target calls than tokens on this pair"

    def test_lookahead_zero_is_plain_decoding(self):
        draft, target = tiny_pair(0)
        draft = CountingModel(draft)
        with zero_size("lookahead = 0", "draft nothing and verify the last token alone"):
            result = SpeculativeDecoder(draft, target, 0).generate([1, 2, 4], 12)
        assert result.tokens == mlx_lm_greedy(target, [1, 2, 4], 12), (
            "lookahead=0 must be plain greedy decoding of the target: each round feeds the last "
            "token alone and takes the target's argmax of that row"
        )
        assert draft.calls == 0 and result.draft_calls == 0, "with lookahead=0 the draft must never run"
        assert result.rounds == 12 and result.tokens_drafted == 0, (
            "with lookahead=0 every target step is a round with nothing drafted (record_round(0, 0))"
        )


class TestRounds:
    def run(self, k=4, prompt=(2, 7, 1), max_tokens=25, seed=1, **kw):
        draft, target = tiny_pair(seed)
        draft, target = CountingModel(draft), CountingModel(target)
        result = SpeculativeDecoder(draft, target, k, **kw).generate(list(prompt), max_tokens)
        return draft, target, result

    def test_one_target_call_per_round(self):
        draft, target, result = self.run()
        assert result.rounds > 0, (
            "no round was recorded: call result.record_round(K, n) once per verify round"
        )
        assert len(result.accepted_per_round) == result.rounds, (
            f"{len(result.accepted_per_round)} accepted counts but {result.rounds} rounds: record "
            "rounds only through result.record_round"
        )
        assert target.calls == 1 + result.rounds, (
            f"{result.rounds} rounds made {target.calls} target calls: expected one prefill plus exactly ONE "
            "verify call per round"
        )
        assert result.target_calls == target.calls, "result.target_calls must count the target's forward passes"
        assert result.draft_calls == draft.calls, "result.draft_calls must count the draft's forward passes"
        verify_sizes = target.tokens_per_call[1:]
        assert verify_sizes == [d + 1 for d in result.drafted_per_round], (
            f"verify calls fed {verify_sizes} tokens: each must be [last token, d_1..d_K] = K+1 tokens"
        )

    def test_caches_hold_exactly_the_accepted_tokens(self):
        # Every verify call must start where the accepted context ends (minus its
        # last token) and feed the true last token: that is only possible if
        # the target cache was trimmed to the accepted length after each round.
        prompt = [2, 7, 1]
        draft, target, result = self.run(prompt=prompt)
        seq = prompt + result.tokens
        length = len(prompt)
        draft_call = 1  # call 0 is the draft's prefill
        rounds = len(target.inputs) - 1
        assert rounds == len(result.accepted_per_round) == len(result.drafted_per_round), (
            f"{rounds} verify calls but {len(result.accepted_per_round)} rounds recorded: record_round "
            "exactly once per round, and make exactly one target call per round"
        )
        for r, (start, fed) in enumerate(zip(target.start_positions[1:], target.inputs[1:])):
            assert start == length - 1, (
                f"round {r}: the target cache held {start} tokens, the accepted context is {length} tokens; "
                "rewind it (trim_prompt_cache) to exactly the accepted length minus one after each round"
            )
            assert fed[0] == seq[start], f"round {r}: verification must start with the last accepted token"
            # The round's first draft call must end exactly at the last accepted
            # token, having fed only true tokens the draft cache lacked.
            assert draft_call < len(draft.inputs), (
                f"round {r}: the draft made only {len(draft.inputs)} calls, fewer than the rounds' "
                f"{result.drafted_per_round[:r + 1]} drafted tokens need: one draft call per drafted token"
            )
            d_start, d_fed = draft.start_positions[draft_call], draft.inputs[draft_call]
            assert d_start + len(d_fed) == length and d_fed == seq[d_start:length], (
                f"round {r}: the draft's first call fed {d_fed} at position {d_start}, but the accepted "
                f"context ends with {seq[max(0, length - 3):length]} at position {length - 1}: rewind the "
                "draft cache to the accepted length (and catch up after a fully accepted round)"
            )
            draft_call += result.drafted_per_round[r]
            length += result.accepted_per_round[r] + 1

    def test_accepted_counts_add_up(self):
        _, _, result = self.run(max_tokens=40)
        assert len(result.tokens) == 40, (
            f"max_tokens=40 produced {len(result.tokens)} tokens: stop after exactly max_tokens "
            "(cap K at max_tokens - emitted - 1)"
        )
        assert result.tokens_accepted == sum(result.accepted_per_round), (
            f"tokens_accepted {result.tokens_accepted} != sum(accepted_per_round) "
            f"{sum(result.accepted_per_round)}: count rounds only with result.record_round(K, n)"
        )
        assert result.tokens_drafted == sum(result.drafted_per_round), (
            f"tokens_drafted {result.tokens_drafted} != sum(drafted_per_round) "
            f"{sum(result.drafted_per_round)}: count rounds only with result.record_round(K, n)"
        )
        assert len(result.tokens) == sum(a + 1 for a in result.accepted_per_round), (
            "each round emits its accepted tokens plus exactly one target token"
        )

    @pytest.mark.parametrize("max_tokens", [1, 2, 5, 13])
    def test_never_overshoots_max_tokens(self, max_tokens):
        _, target, result = self.run(k=6, max_tokens=max_tokens)
        assert len(result.tokens) == max_tokens, (
            f"max_tokens={max_tokens} produced {len(result.tokens)} tokens: cap K at max_tokens - emitted - 1"
        )
        assert all(d <= max_tokens - 1 for d in result.drafted_per_round), "do not draft tokens you cannot emit"

    def test_zero_tokens(self):
        draft, target, result = self.run(max_tokens=0)
        assert result.tokens == [], f"max_tokens=0 must return no tokens, got {result.tokens}"
        assert target.calls == 0, (
            f"max_tokens=0 ran the target {target.calls} time(s): return before the prefill"
        )
        assert draft.calls == 0, (
            f"max_tokens=0 ran the draft {draft.calls} time(s): return before any round"
        )


class TestEos:
    def test_eos_inside_an_accepted_draft_stops_there(self):
        # Draft and target agree on the whole continuation, so EOS (15) arrives
        # in the middle of a fully accepted draft.
        prompt, cont = [1, 2], [5, 6, 15, 7, 8, 9, 10, 11]
        # default=3: a decoder that runs past EOS gets an answer (and fails the assertion below
        # that names its bug) instead of crashing the test model with an IndexError.
        draft = ScriptedModel.for_prompt(16, prompt, cont, default=3)
        target = ScriptedModel.for_prompt(16, prompt, cont, default=3)
        result = SpeculativeDecoder(draft, target, 4, eos_token_id=15).generate(prompt, 20)
        assert result.tokens == [5, 6, 15], f"expected [5, 6, 15] (stop at EOS, nothing after), got {result.tokens}"
        assert result.finish_reason == "eos", (
            f"finish_reason is {result.finish_reason!r}: set it to 'eos' when an EOS token ends "
            "generation"
        )

    def test_eos_as_the_correction_token(self):
        prompt = [1]
        draft = ScriptedModel.for_prompt(16, prompt, [5, 6, 7, 8, 9, 10], default=3)
        target = ScriptedModel.for_prompt(16, prompt, [5, 15, 7, 8, 9, 10], default=3)
        result = SpeculativeDecoder(draft, target, 4, eos_token_id=15).generate(prompt, 20)
        assert result.tokens == [5, 15], (
            f"expected [5, 15], got {result.tokens}: the correction token 15 is EOS; check every "
            "emitted token for EOS, the correction/bonus token too, and stop there"
        )
        assert result.finish_reason == "eos", (
            f"finish_reason is {result.finish_reason!r}: an EOS correction token ends generation "
            "with 'eos'"
        )


class TestSampledIsLossless:
    @pytest.mark.parametrize("temperature,k", [(1.0, 2), (0.7, 3)])
    def test_joint_distribution_of_three_tokens_is_the_targets(self, temperature, k):
        # 2000 seeded generations of 3 tokens from a Markov target with a
        # perturbed Markov draft; chi-square at false-failure 1e-4 against the
        # exact joint distribution of the target alone.
        probs = random_markov(4, seed=7)
        target, draft = MarkovModel(probs), MarkovModel(perturbed(probs, 0.5, seed=8))
        decoder = SpeculativeDecoder(draft, target, k, temperature=temperature)
        keys = mx.random.split(mx.random.key(11), 2000)
        results = [decoder.generate([1], 3, key=keys[i]) for i in range(2000)]
        # The first round drafts min(K, 3 - 1) = 2 tokens: check the law of its accepted count n
        # too (same runs, no extra cost), exactly: P(n >= 1) = alpha(1), P(n = 2) =
        # sum_x min(p, q)(x | 1) alpha(x), with alpha(t) = sum min(p(. | t), q(. | t)) at T.
        # Chi-square at false-failure 1e-4 (fixed keys: deterministic).
        assert all(r.accepted_per_round and r.drafted_per_round[0] == 2 for r in results), (
            "the first round of a 3-token generation must draft min(K, 2) = 2 tokens and be recorded"
        )
        p = np.stack([exact_next_distribution(probs, t, temperature) for t in range(4)])
        q = np.stack([exact_next_distribution(draft.probs, t, temperature) for t in range(4)])
        overlap = np.minimum(p, q)
        alpha = overlap.sum(-1)
        law = {0: 1 - alpha[1], 1: float(overlap[1] @ (1 - alpha)), 2: float(overlap[1] @ alpha)}
        assert_follows(Counter(r.accepted_per_round[0] for r in results), law,
                       what=f"accepted tokens in the first round at T={temperature}: stop at the first "
                            "rejection, accept with min(1, p/q) using a fresh uniform per position")
        counts = Counter(tuple(r.tokens) for r in results)
        assert_follows(counts, exact_sequence_distribution(probs, 1, 3, temperature=temperature),
                       what=f"3 sampled tokens at T={temperature}, K={k}: speculative sampling must "
                            "reproduce the target's joint distribution (one key for the draft "
                            "and another for the verify step: split the key every round)")

    def test_same_key_same_output(self):
        draft, target = tiny_pair(2)
        dec = SpeculativeDecoder(draft, target, 3, temperature=1.0)
        a = dec.generate([1, 2], 20, key=mx.random.key(5)).tokens
        b = dec.generate([1, 2], 20, key=mx.random.key(5)).tokens
        assert a == b, "generate must be reproducible with the same key (and reset its caches between calls)"


class TestBadInput:
    def test_empty_prompt(self):
        draft, target = tiny_pair(0)
        target = CountingModel(target)
        with pytest.raises(ValueError, match="empty"):
            SpeculativeDecoder(draft, target, 2).generate([], 5)
        assert target.calls == 0, (
            f"the target ran {target.calls} time(s) before the empty-prompt error: validate the "
            "prompt before any forward pass"
        )

    @pytest.mark.parametrize("n,exc", [(-1, ValueError), (3.0, TypeError)])
    def test_bad_max_tokens(self, n, exc):
        draft, target = tiny_pair(0)
        with pytest.raises(exc, match="max_tokens"):
            SpeculativeDecoder(draft, target, 2).generate([1], n)


class TestEveryBadArgument:
    """Each rejected value of generate's arguments, with a sampling, EOS-aware decoder."""

    # A bad count let through (NaN, 2.0) can make a generation loop never end: fail in 10 s
    # (pytest-timeout) instead of hanging the suite.
    pytestmark = pytest.mark.timeout(10)

    @pytest.mark.parametrize("bad,exc", [(-1, ValueError), (2.0, TypeError), (True, TypeError),
                                         (float("nan"), TypeError), ("4", TypeError), (None, TypeError)],
                             ids=repr)
    def test_bad_max_tokens_before_any_model_runs(self, bad, exc):
        draft, target = (CountingModel(m) for m in tiny_pair(0))
        dec = SpeculativeDecoder(draft, target, 3, temperature=0.7, eos_token_id=5)
        with pytest.raises(exc, match="max_tokens"):
            dec.generate([1, 2], bad, key=mx.random.key(0))
        assert draft.calls == target.calls == 0, "refuse a bad max_tokens before any model runs"

    @pytest.mark.parametrize("prompt,exc", [([], ValueError), (mx.array([[1, 2]]), ValueError),
                                            (mx.array([1.0, 2.0]), TypeError), ([1, 2.5], TypeError)],
                             ids=["empty", "2-D", "float-array", "float-item"])
    def test_bad_prompt_before_any_model_runs(self, prompt, exc):
        draft, target = (CountingModel(m) for m in tiny_pair(0))
        dec = SpeculativeDecoder(draft, target, 3, temperature=0.7, eos_token_id=5)
        with pytest.raises(exc):
            dec.generate(prompt, 4, key=mx.random.key(0))
        assert draft.calls == target.calls == 0, "refuse a bad prompt before any model runs"
