"""Week 3 Day 1 - ragged batches in MLX (book chapter week3-01-ragged)."""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.ragged import batched_generate, batched_prefill, left_pad, sample_rows
from specdec_course.testing import (
    exact_next_distribution,
    exact_sequence_distribution,
    random_markov,
    tiny_llama,
)
from specdec_course.testing.diffs import token_mismatch
from specdec_course.testing.stats import assert_follows
from specdec_course.testing.ties import logit_atol
from tests.w1_helpers import mlx_lm_greedy
from tests.w3_helpers import (
    BatchCounting,
    BatchMarkov,
    HistoryScripted,
    clear_ragged_prompts,
    history_hash,
)

pytestmark = pytest.mark.w3d1


class TestLeftPad:
    def test_rows_are_right_aligned(self):
        tokens, padding = left_pad([[1, 2, 3], [7], [4, 5]], pad_id=9)
        assert padding == [0, 2, 1], f"left_padding {padding}: it is W - len(row) for each row"
        assert tokens.tolist() == [[1, 2, 3], [9, 9, 7], [9, 4, 5]], (
            f"got {tokens.tolist()}: pad on the LEFT so each row's last token is in the last column"
        )
        assert tokens.dtype == mx.int32, f"token ids must be int32, got {tokens.dtype}"

    def test_empty_rows_and_width_zero(self):
        tokens, padding = left_pad([[], [5, 6]])
        assert tokens.tolist() == [[0, 0], [5, 6]] and padding == [2, 0], (
            f"got {tokens.tolist()} and {padding}: an empty row is all padding (default pad_id 0)"
        )
        tokens, padding = left_pad([[], []])
        assert tokens.shape == (2, 0) and padding == [0, 0], (
            f"all-empty rows give a (B, 0) matrix, got shape {tokens.shape}"
        )


class TestBatchedPrefill:
    def test_each_rows_logits_equal_its_own_pass(self):
        model = tiny_llama(0)
        prompts = [[1, 2, 3, 4, 5, 6, 7], [9], [3, 3, 8]]
        cache, logits = batched_prefill(model, prompts, pad_id=5)
        assert logits.shape == (3, 64) and logits.dtype == mx.float32, (
            f"logits must be float32 (B, V) = (3, 64), got {logits.dtype} {logits.shape}"
        )
        for b, p in enumerate(prompts):
            want = model(mx.array(p)[None])[0, -1]
            err = mx.abs(logits[b] - want).max().item()
            assert err <= logit_atol(want), (
                f"row {b} (length {len(p)}): logits differ from a single-row pass by {err:.3g}. "
                "Pad on the left with the ragged cache made from the same paddings, and take the "
                "LAST column"
            )
        assert cache[0].offset.tolist() == [7, 1, 3], (
            f"cache offsets {cache[0].offset.tolist()} should be the rows' lengths"
        )

    def test_all_empty_rows_make_no_call(self):
        model = BatchCounting(tiny_llama(0))
        cache, logits = batched_prefill(model, [[], []])
        assert logits is None and model.calls == 0, (
            "with nothing to prefill, return (cache, None) without calling the model"
        )
        assert cache[0].offset.tolist() == [0, 0], (
            f"offsets {cache[0].offset.tolist()}: nothing was prefilled, every row holds 0 tokens"
        )


class TestSampleRows:
    def test_greedy_is_each_rows_argmax(self):
        logits = mx.array([[0.0, 3.0, 1.0], [5.0, 1.0, 2.0]])
        got = sample_rows(logits, 0.0).tolist()
        assert got == [1, 0], f"T=0 must pick each row's argmax, got {got}"

    def test_rows_sample_their_own_distributions(self):
        probs = random_markov(4, seed=3)
        # 3000 copies of two rows in one call: every row must be an independent draw.
        logits = mx.array(np.log(probs[[0, 2] * 3000]).astype(np.float32))
        draws = np.array(sample_rows(logits, 0.8, mx.random.key(4)).tolist()).reshape(3000, 2)
        for r, t in enumerate([0, 2]):
            assert_follows(
                Counter(draws[:, r].tolist()),
                exact_next_distribution(probs, t, 0.8),
                what=f"row {r} of sample_rows at T=0.8: each row samples from ITS OWN softmax "
                "(mx.random.categorical takes log-probabilities: pass mx.log(p), not p)",
            )
        same = float(np.mean(draws[:, 0] == draws[:, 1]))
        assert same < 0.9, f"the two rows agreed in {same:.0%} of draws: they must be independent"

    def test_same_key_same_tokens(self):
        logits = mx.random.normal((5, 16), key=mx.random.key(0))
        a = sample_rows(logits, 1.0, mx.random.key(7)).tolist()
        b = sample_rows(logits, 1.0, mx.random.key(7)).tolist()
        assert a == b, "sample_rows must be reproducible with the same key"


class TestBatchedGenerate:
    @pytest.mark.parametrize("batch,seed", [(1, 0), (3, 1), (8, 2)])
    def test_equals_single_sequence_greedy(self, batch, seed):
        model = tiny_llama(seed)
        # Prompts of lengths 1 to 45 whose greedy runs have no near-tie (chosen, not lucky).
        prompts, wants = clear_ragged_prompts(model, batch, 20, seed)
        results = batched_generate(model, prompts, 20)
        assert len(results) == batch, f"one result per prompt: got {len(results)} for {batch}"
        for b, (p, r, want) in enumerate(zip(prompts, results, wants, strict=True)):
            assert r.tokens == want, token_mismatch(
                r.tokens,
                want,
                "padding visible, or the wrong column's logits",
                what=f"row {b} (prompt length {len(p)}) of a batch of {batch} against "
                "single-sequence greedy",
            )
            assert r.target_calls == len(r.tokens) == 20, (
                f"row {b}: {r.target_calls} target calls for {len(r.tokens)} tokens: count the "
                "prefill and every step the row takes part in"
            )

    def test_history_sees_no_padding(self):
        # The scripted choice depends on every visible token and on how many there are:
        # padding in the attention (or a wrong per-row position) changes the output.
        script = history_hash(32)
        model = HistoryScripted(32, script)
        prompts = [[4], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [7, 7]]
        for pad in (0, 13):
            results = batched_generate(model, prompts, 12, pad_id=pad)
            for b, p in enumerate(prompts):
                assert results[b].tokens == model.greedy(p, 12), (
                    f"pad_id={pad}, row {b}: the output depends on the padding: pad on the left "
                    "and give the cache the same left paddings so padded columns are masked"
                )

    def test_per_row_budgets_and_eos(self):
        script = history_hash(16)
        model = BatchCounting(HistoryScripted(16, script))
        prompts = [[1, 2], [3], [4, 5, 6], [2, 2]]
        eos = model.greedy([4, 5, 6], 30)[4]  # row 2 meets it at its 5th token
        results = batched_generate(model, prompts, [6, 0, 30, 1], eos_token_id=eos)
        want = [model.greedy(p, m, eos) for p, m in zip(prompts, [6, 0, 30, 1], strict=True)]
        got = [r.tokens for r in results]
        assert got == want, f"per-row budgets / EOS: got {got}, want {want}"
        assert results[1].target_calls == 0 and results[1].tokens == [], (
            "a row with max_tokens=0 gets no tokens and takes part in no call"
        )
        reasons = [r.finish_reason for r in results]
        assert reasons[2] == "eos" and reasons[0] == "length", (
            f"finish reasons {reasons}: row 2 stops at its EOS ('eos'), row 0 at its budget "
            "('length')"
        )
        sizes = [bsz for bsz, _ in model.shapes]
        live = [sum(len(w) > step for w in want) for step in range(max(map(len, want)))]
        assert sizes == live, (
            f"batch sizes per call {sizes}, expected {live}: the 0-budget row never enters the "
            "batch and a finished row must leave it at once (filter_rows on the cache)"
        )

    def test_identical_prompts_identical_rows(self):
        model = tiny_llama(5)
        results = batched_generate(model, [[3, 1, 4], [3, 1, 4], [9]], 15)
        assert results[0].tokens == results[1].tokens, "identical prompts gave different rows"

    def test_sampled_rows_follow_the_targets_distribution(self):
        # One batch of 2 x 1200 rows: rows are independent draws, so the 1200 copies of a
        # prompt are 1200 samples of its 3-token continuation (and it is fast).
        probs = random_markov(4, seed=7)
        prompts = [[2, 1], [3]] * 1200
        results = batched_generate(
            BatchMarkov(probs), prompts, 3, temperature=0.9, key=mx.random.key(2)
        )
        for b, last in enumerate([1, 3]):
            assert_follows(
                Counter(tuple(r.tokens) for r in results[b::2]),
                exact_sequence_distribution(probs, last, 3, temperature=0.9),
                what=f"prompt {prompts[b]}: 3 sampled tokens per row must follow the model's own "
                "distribution, independently in every row (split the key every step: one key "
                "reused draws the same uniforms each step)",
            )

    def test_same_key_same_output(self):
        model = tiny_llama(2)
        prompts = [[1, 2], [5], [6, 7, 8]]
        a = batched_generate(model, prompts, 10, temperature=1.0, key=mx.random.key(3))
        b = batched_generate(model, prompts, 10, temperature=1.0, key=mx.random.key(3))
        assert [r.tokens for r in a] == [r.tokens for r in b], "same key must give the same rows"

    def test_batch_of_one_is_the_baseline(self):
        model = tiny_llama(5)  # seed 4 has a near-tie at step 9 of this prompt
        got = batched_generate(model, [mx.array([5, 6, 7])], 12)[0]
        # mlx-lm's own greedy decoding, not the student's Week 1 baseline: a Week 1 bug must
        # not be blamed on the batched code.
        want = mlx_lm_greedy(model, [5, 6, 7], 12)
        assert got.tokens == want and got.target_calls == 12, (
            f"B = 1: {got.tokens} in {got.target_calls} calls, target greedy decoding gives "
            f"{want} in 12 (a prefill that yields the first token, then one call per token)"
        )


class TestBadInput:
    @pytest.mark.parametrize(
        "prompts,max_tokens,kw,exc,match",
        [
            ([], 5, {}, ValueError, "empty"),
            ([[1], []], 5, {}, ValueError, r"prompts\[1\]"),
            ([[1], [2]], [3], {}, ValueError, "max_tokens"),
            ([[1]], -1, {}, ValueError, "max_tokens"),
            ([[1]], 3, {"temperature": -1.0}, ValueError, "temperature"),
        ],
        ids=["empty-batch", "empty-prompt", "budget-list", "negative", "temperature"],
    )
    def test_clear_error_before_any_call(self, prompts, max_tokens, kw, exc, match):
        model = BatchCounting(tiny_llama(0))
        with pytest.raises(exc, match=match):
            batched_generate(model, prompts, max_tokens, **kw)
        assert model.calls == 0, "check the input before running the model"
