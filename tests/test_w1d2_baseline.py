"""Week 1 Day 2 - the autoregressive baseline (book chapter week1-02-baseline)."""

from collections import Counter

import mlx.core as mx
import pytest

from specdec.baseline import autoregressive_generate
from specdec_course.testing.stats import assert_follows
from specdec_course.testing import CountingModel, MarkovModel, ScriptedModel, exact_sequence_distribution, \
    random_markov, tiny_llama
from tests.w1_helpers import BUNDLED_PROMPTS, bundled_greedy, bundled_pair, mlx_lm_greedy

pytestmark = pytest.mark.w1d2


class TestGreedyMatchesMlxLm:
    @pytest.mark.parametrize("seed,prompt", [(0, [3]), (1, [5, 9, 2]), (2, list(range(10, 27)))])
    def test_tiny_llama(self, seed, prompt):
        model = tiny_llama(seed)
        got = autoregressive_generate(model, mx.array(prompt), 24).tokens
        want = mlx_lm_greedy(model, prompt, 24)
        assert got == want, (
            f"greedy output differs from mlx-lm's at position {next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)}"
            ": take the argmax of the LAST row of the logits, and feed each new token with the cache"
        )

    @pytest.mark.parametrize("text", BUNDLED_PROMPTS)
    def test_bundled_target(self, text):
        _, target, _ = bundled_pair()
        prompt, want = bundled_greedy(text, 32)
        got = autoregressive_generate(target, mx.array(prompt), 32).tokens
        assert got == want, "greedy output on the bundled target differs from mlx-lm's"

    def test_accepts_a_list_prompt(self):
        model = tiny_llama(3)
        assert autoregressive_generate(model, [4, 5], 5).tokens == mlx_lm_greedy(model, [4, 5], 5)


class TestCallCounts:
    def test_one_forward_pass_per_token(self):
        model = CountingModel(tiny_llama(0))
        result = autoregressive_generate(model, mx.array([1, 2, 3, 4]), 10)
        assert len(result.tokens) == 10
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
        model = CountingModel(ScriptedModel.for_prompt(16, [1, 2], [5, 6, 15, 7, 8]))
        result = autoregressive_generate(model, [1, 2], 10, eos_token_id=15)
        assert result.tokens == [5, 6, 15], f"expected [5, 6, 15] (EOS kept, nothing after), got {result.tokens}"
        assert result.finish_reason == "eos"
        assert model.calls == 3, "no forward pass after emitting EOS"

    def test_eos_as_a_set(self):
        model = ScriptedModel.for_prompt(16, [1], [5, 14, 7])
        assert autoregressive_generate(model, [1], 10, eos_token_id={14, 15}).tokens == [5, 14]


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
        assert model.calls == 0

    def test_negative_max_tokens(self):
        with pytest.raises(ValueError, match="max_tokens"):
            autoregressive_generate(tiny_llama(0), [1], -1)

    def test_non_int_max_tokens(self):
        with pytest.raises(TypeError, match="max_tokens"):
            autoregressive_generate(tiny_llama(0), [1], 2.5)
