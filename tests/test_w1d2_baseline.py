"""Week 1 Day 2 - the autoregressive baseline (book chapter week1-02-baseline)."""

from collections import Counter

import mlx.core as mx
import pytest

from specdec.baseline import autoregressive_generate
from specdec_course.testing import (
    CountingModel,
    MarkovModel,
    ScriptedModel,
    exact_sequence_distribution,
    random_markov,
    tiny_llama,
)
from specdec_course.testing.diffs import token_mismatch
from specdec_course.testing.stats import assert_follows
from specdec_course.testing.ties import assert_greedy_equal_or_tie
from tests.w1_helpers import BUNDLED_PROMPTS, bundled_greedy, bundled_pair, mlx_lm_greedy

# A test that runs past 60 s is a hang (e.g. a bad max_tokens let into the loop): fail it.
pytestmark = [pytest.mark.w1d2, pytest.mark.timeout(60)]


class TestGreedyMatchesMlxLm:
    @pytest.mark.parametrize("seed,prompt", [(0, [3]), (4, [5, 9, 2]), (2, list(range(10, 27)))])
    def test_tiny_llama(self, seed, prompt):
        model = tiny_llama(seed)
        got = autoregressive_generate(model, mx.array(prompt), 24).tokens
        want = mlx_lm_greedy(model, prompt, 24)
        assert got == want, token_mismatch(
            got, want, "take the argmax of the LAST row of the logits, and feed each new token with "
            "the cache", what="greedy output against mlx-lm's")

    @pytest.mark.parametrize("text", BUNDLED_PROMPTS)
    def test_bundled_target(self, text):
        _, target, _ = bundled_pair()
        prompt, want = bundled_greedy(text, 16)
        got = autoregressive_generate(target, mx.array(prompt), 16).tokens
        # bfloat16 on a GPU: equal token for token except at named near-ties (reported).
        assert_greedy_equal_or_tie(target, prompt, got, want,
                                   what="greedy output on the bundled target differs from mlx-lm's")

    def test_accepts_a_list_prompt(self):
        model = tiny_llama(3)
        assert (
            autoregressive_generate(model, [4, 5], 5).tokens == mlx_lm_greedy(model, [4, 5], 5)
        ), (
            "a Python list prompt must decode like the same mx.array prompt: convert it with "
            "token_list before building the model input"
        )


class TestCallCounts:
    def test_one_forward_pass_per_token(self):
        model = CountingModel(tiny_llama(0))
        result = autoregressive_generate(model, mx.array([1, 2, 3, 4]), 10)
        assert len(result.tokens) == 10, (
            f"asked for 10 tokens, got {len(result.tokens)}: stop after exactly max_tokens tokens"
        )
        assert model.calls == 10, (
            f"10 tokens should cost 10 forward passes (prefill + 9 single-token steps), made {model.calls}: "
            "no forward pass is needed after the last token"
        )
        assert model.tokens_per_call == [4] + [1] * 9, (
            f"tokens per call {model.tokens_per_call}: prefill the whole prompt once, then feed ONE token "
            "per step and let the KV cache remember the rest"
        )
        assert result.target_calls == model.calls, "result.target_calls must count the forward passes"

    def test_the_model_sees_the_true_sequence(self):
        model = CountingModel(tiny_llama(1))
        prompt = [7, 8, 9]
        result = autoregressive_generate(model, prompt, 6)
        seq = prompt + result.tokens
        for start, fed in zip(model.start_positions, model.inputs):
            assert fed == seq[start:start + len(fed)], (
                f"at cache position {start} the model was fed {fed}, expected {seq[start:start + len(fed)]}: "
                "pass the same cache to every call"
            )


class TestStopping:
    def test_max_tokens(self):
        model = tiny_llama(2)
        for n in (1, 7):
            assert len(autoregressive_generate(model, [1, 2], n).tokens) == n, f"max_tokens={n} not respected"

    def test_zero_tokens_costs_nothing(self):
        model = CountingModel(tiny_llama(2))
        result = autoregressive_generate(model, [1, 2], 0)
        assert result.tokens == [] and model.calls == 0, "max_tokens=0 must return no tokens without running the model"

    def test_stops_at_eos_inclusive(self):
        model = CountingModel(ScriptedModel.for_prompt(16, [1, 2], [5, 6, 15, 7, 8], default=9))
        result = autoregressive_generate(model, [1, 2], 10, eos_token_id=15)
        assert result.tokens == [5, 6, 15], f"expected [5, 6, 15] (EOS kept, nothing after), got {result.tokens}"
        assert result.finish_reason == "eos", (
            f"finish_reason is {result.finish_reason!r}: set it to 'eos' when an EOS token stops "
            "generation ('length' is only for hitting max_tokens)"
        )
        assert model.calls == 3, "no forward pass after emitting EOS"

    def test_eos_as_a_set(self):
        model = ScriptedModel.for_prompt(16, [1], [5, 14, 7], default=9)
        assert autoregressive_generate(model, [1], 10, eos_token_id={14, 15}).tokens == [5, 14], (
            "eos_token_id={14, 15} must stop right after 14 (EOS kept): a set of EOS ids means "
            "stop at ANY of them (normalize it with eos_ids)"
        )


class TestSampling:
    def test_two_token_joint_distribution_is_exact(self):
        # 3000 seeded runs; chi-square at false-failure 1e-4 against the exact
        # joint distribution of the Markov chain at T = 0.8.
        probs = random_markov(4, seed=3)
        model = MarkovModel(probs)
        keys = mx.random.split(mx.random.key(0), 3000)
        counts = Counter(tuple(autoregressive_generate(model, [2], 2, temperature=0.8, key=keys[i]).tokens)
                         for i in range(3000))
        assert_follows(counts, exact_sequence_distribution(probs, 2, 2, temperature=0.8),
                       what="two sampled tokens at T=0.8 (split the key for every token; divide logits by T)")

    def test_same_key_same_tokens(self):
        model = tiny_llama(4)
        a = autoregressive_generate(model, [1, 2], 12, temperature=1.0, key=mx.random.key(9)).tokens
        b = autoregressive_generate(model, [1, 2], 12, temperature=1.0, key=mx.random.key(9)).tokens
        assert a == b, "the same key must reproduce the same sampled tokens"


class TestBadInput:
    @pytest.mark.parametrize("prompt", [[], mx.array([], dtype=mx.int32)])
    def test_empty_prompt(self, prompt):
        model = CountingModel(tiny_llama(0))
        with pytest.raises(ValueError, match="empty"):
            autoregressive_generate(model, prompt, 4)
        assert model.calls == 0, (
            f"the model ran {model.calls} time(s) before the empty-prompt error: validate the "
            "prompt before any forward pass"
        )

    def test_negative_max_tokens(self):
        with pytest.raises(ValueError, match="max_tokens"):
            autoregressive_generate(tiny_llama(0), [1], -1)

    def test_non_int_max_tokens(self):
        with pytest.raises(TypeError, match="max_tokens"):
            autoregressive_generate(tiny_llama(0), [1], 2.5)


class TestEveryBadArgument:
    """Each rejected value of each argument, with every optional argument given too."""

    # A bad count let through (NaN, 2.0) can make a generation loop never end: fail in 10 s
    # (pytest-timeout) instead of hanging the suite.
    pytestmark = pytest.mark.timeout(10)

    GOOD = {"temperature": 0.7, "eos_token_id": 3}
    BAD = [
        ("temperature", v, e) for v, e in [(-1.0, ValueError), (float("nan"), ValueError),
                                           (float("inf"), ValueError), (float("-inf"), ValueError),
                                           ("0.5", TypeError), (None, TypeError)]
    ] + [("max_tokens", v, e) for v, e in [(-1, ValueError), (2.0, TypeError), (True, TypeError),
                                           (float("nan"), TypeError), ("4", TypeError)]] + [
        ("eos_token_id", v, TypeError) for v in ([1.5], "x")
    ]

    @pytest.mark.parametrize("name,bad,exc", BAD, ids=lambda v: repr(v)[:12])
    def test_rejected_before_the_model_runs(self, name, bad, exc):
        model = CountingModel(tiny_llama(0))
        kwargs = {**self.GOOD, "key": mx.random.key(0), "max_tokens": 4}
        kwargs[name] = bad
        with pytest.raises(exc):
            autoregressive_generate(model, [1, 2], **kwargs)
        assert model.calls == 0, f"a bad {name} must be refused before the model runs"

    @pytest.mark.parametrize("prompt,exc", [(mx.array([[1, 2]]), ValueError), (mx.array([1.0, 2.0]), TypeError),
                                            ([1, 2.5], TypeError)], ids=["2-D", "float-array", "float-item"])
    def test_bad_prompt(self, prompt, exc):
        model = CountingModel(tiny_llama(0))
        with pytest.raises(exc):
            autoregressive_generate(model, prompt, 4, temperature=0.7, key=mx.random.key(0))
        assert model.calls == 0, "a bad prompt must be refused before the model runs"
