"""Week 3 Day 2 - batched verification (book chapter week3-02-batched-verify)."""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.batched_verify import PLACEHOLDER, accepted_lengths, batched_verify
from specdec_course.testing.guards import zero_size
from specdec_course.testing.stats import assert_follows
from tests.w3_helpers import exact_verify_law, greedy_verify_law

pytestmark = pytest.mark.w3d2

V = 6


def softmax(x, t):
    z = np.exp((x - x.max(-1, keepdims=True)) / t)
    return z / z.sum(-1, keepdims=True)


def greedy_case(seed=0, batch=5, k=4):
    """Target logits with clear argmaxes; row b's drafts match the target's first b choices."""
    rng = np.random.default_rng(seed)
    target = rng.normal(size=(batch, k + 1, V)).astype(np.float32)
    choices = target.argmax(-1)
    drafts = (choices[:, :k] + 1) % V  # all wrong ...
    for b in range(batch):
        drafts[b, : min(b, k)] = choices[b, : min(b, k)]  # ... except the first b
    draft_logits = rng.normal(size=(batch, k, V)).astype(np.float32)
    return mx.array(drafts), mx.array(target), mx.array(draft_logits)


class TestAcceptedLengths:
    def test_counts_only_the_leading_run(self):
        accept = mx.array(
            [
                [True, True, False, True],
                [False, True, True, True],
                [True, True, True, True],
                [False, False, False, False],
            ]
        )
        got = accepted_lengths(accept).tolist()
        assert got == [2, 0, 4, 0], (
            f"got {got}: count the True values BEFORE the first False only (a draft token after a "
            "rejection is never kept, even if it passed its own test)"
        )

    def test_zero_drafts(self):
        with zero_size("K = 0 drafts (accept of shape (3, 0))", "every row accepts 0"):
            got = accepted_lengths(mx.zeros((3, 0), dtype=mx.bool_)).tolist()
        assert got == [0, 0, 0], f"K = 0 drafts: every row accepts 0, got {got}"


class TestGreedy:
    def test_each_row_follows_greedy_verification(self):
        drafts, target, draft_logits = greedy_case()
        n, tokens = batched_verify(drafts, target, draft_logits)
        assert n.shape == (5,) and tokens.shape == (5, 5), (
            f"accepted must be (B,) and tokens (B, K+1); got {n.shape} and {tokens.shape}"
        )
        for b in range(5):
            want_n, want = greedy_verify_law(drafts[b].tolist(), target[b])
            got = tokens[b].tolist()
            assert n[b].item() == want_n == min(b, 4), (
                f"row {b}: accepted {n[b].item()}, want {want_n}"
            )
            assert got[: want_n + 1] == want, (
                f"row {b}: emitted {got[: want_n + 1]}, greedy verification gives {want}"
                + (" (the bonus token after full acceptance)" if want_n == 4 else "")
            )
            assert got[want_n + 1 :] == [PLACEHOLDER] * (4 - want_n), (
                f"row {b}: {got}: every position after the emitted token must be the placeholder -1"
            )

    def test_per_row_draft_counts(self):
        drafts, target, draft_logits = greedy_case()
        counts = [0, 1, 4, 2, 3]
        with zero_size("a row with num_draft = 0", "it accepts 0 and emits its position-0 token"):
            n, tokens = batched_verify(drafts, target, draft_logits, num_draft=counts)
        for b, c in enumerate(counts):
            want_n, want = greedy_verify_law(drafts[b, :c].tolist(), target[b, : c + 1])
            got = tokens[b].tolist()
            assert n[b].item() == want_n and got[: want_n + 1] == want, (
                f"row {b} with num_draft={c}: got {n[b].item()} accepted and {got}, want "
                f"{want_n} and {want}: drafts from position num_draft on do not exist, and a "
                "row that accepts all its drafts takes its bonus from position num_draft"
            )
            assert got[want_n + 1 :] == [PLACEHOLDER] * (4 - want_n), (
                f"row {b} with num_draft={c}: {got}: every position after the emitted token must "
                "be the placeholder -1"
            )

    def test_zero_drafts_emit_the_targets_choice(self):
        target = mx.array(np.random.default_rng(1).normal(size=(3, 1, V)).astype(np.float32))
        with zero_size("K = 0 (drafts of shape (3, 0))", "emit the target's argmax at position 0"):
            n, tokens = batched_verify(mx.zeros((3, 0), mx.int32), target, mx.zeros((3, 0, V)))
        assert n.tolist() == [0, 0, 0], f"K = 0: nothing to accept, got {n.tolist()}"
        assert tokens[:, 0].tolist() == mx.argmax(target[:, 0], axis=-1).tolist(), (
            f"K = 0: each row emits the target's argmax at position 0, got {tokens.tolist()}"
        )

    def test_output_is_int32(self):
        drafts, target, draft_logits = greedy_case()
        n, tokens = batched_verify(drafts, target, draft_logits)
        assert n.dtype == mx.int32 and tokens.dtype == mx.int32, (
            f"return int32 arrays, got {n.dtype} and {tokens.dtype}"
        )


class TestSampling:
    @pytest.mark.parametrize("temperature", [1.0, 0.6])
    def test_each_row_follows_the_exact_rule(self, temperature):
        # Three different rows (one draft token the draft finds impossible-ish, one with a
        # row count of 1) repeated 2500 times in ONE call: rows must be independent draws.
        rng = np.random.default_rng(3)
        k, reps = 3, 2500
        target = rng.normal(scale=1.5, size=(3, k + 1, V)).astype(np.float32)
        draft = (target[:, :k] + rng.normal(scale=1.0, size=(3, k, V))).astype(np.float32)
        draft[0, 1, :] = -1e4
        draft[0, 1, 0] = 0.0  # the draft is sure of token 0 at row 0 position 1
        drafts = np.array([[2, 0, 1], [3, 3, 3], [1, 4, 0]])
        counts = [3, 3, 1]
        n, tokens = batched_verify(
            mx.array(np.tile(drafts, (reps, 1))),
            mx.array(np.tile(target, (reps, 1, 1))),
            mx.array(np.tile(draft, (reps, 1, 1))),
            num_draft=counts * reps,
            temperature=temperature,
            key=mx.random.key(9),
        )
        n, tokens = np.array(n), np.array(tokens)
        for r in range(3):
            rows = np.arange(r, 3 * reps, 3)
            outcomes = Counter((int(n[i]), int(tokens[i, n[i]])) for i in rows)
            p, q = softmax(target[r], temperature), softmax(draft[r], temperature)
            law = exact_verify_law(drafts[r], p, q, counts[r])
            p_count = Counter()
            for (a, _), w in law.items():
                p_count[a] += w
            if max(p_count.values()) < 0.99:  # all copies alike: chance below 0.99 ** reps
                assert len(set(n[rows].tolist())) > 1, (
                    f"all {reps} copies of row {r} accepted {n[rows[0]]} drafts although the "
                    "count is random: the rows share their uniforms. Draw u of shape (B, K), "
                    "one per row AND position"
                )
            assert_follows(
                outcomes,
                law,
                what=f"row {r} (num_draft={counts[r]}) at T={temperature}: (accepted, token) must "
                "follow the Leviathan rule: accept with min(1, p/q), residual max(0, p - q) "
                "on rejection, a bonus from p after full acceptance",
            )
            for i in rows[:50]:
                assert (tokens[i, : n[i]] == drafts[r, : n[i]]).all(), (
                    f"row {i}: tokens {tokens[i].tolist()} must start with its {n[i]} accepted "
                    f"drafts {drafts[r, : n[i]].tolist()}"
                )
                assert (tokens[i, n[i] + 1 :] == PLACEHOLDER).all(), "positions after: -1"

    def test_accept_test_and_draw_use_separate_keys(self):
        # One row per call, over many keys: a bug that feeds the SAME key to the uniforms and
        # to the correction / bonus draw correlates them inside the row (a rejection, i.e. a
        # large u, then skews the token drawn), which a big batch of rows hides.
        p = np.array([[0.40, 0.10, 0.20, 0.30], [0.25, 0.25, 0.25, 0.25]])
        q = np.array([[0.15, 0.35, 0.30, 0.20]])
        target, draft = mx.array(np.log(p)[None]), mx.array(np.log(q)[None])
        keys = mx.random.split(mx.random.key(21), 800)
        outcomes = Counter()
        for i in range(800):
            n, tokens = batched_verify(mx.array([[1]]), target, draft, temperature=1.0, key=keys[i])
            outcomes[(n.item(), tokens[0, n.item()].item())] += 1
        assert_follows(
            outcomes,
            exact_verify_law([1], p, q, 1),
            what="(accepted, token) of one K=1 row over 800 keys: the same key used for the "
            "accept test and for the correction / bonus draw? Split the key into two",
        )

    def test_same_key_same_result(self):
        drafts, target, draft_logits = greedy_case(seed=4)
        a = batched_verify(drafts, target, draft_logits, temperature=1.0, key=mx.random.key(2))
        b = batched_verify(drafts, target, draft_logits, temperature=1.0, key=mx.random.key(2))
        assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist(), (
            "batched_verify must be reproducible with the same key"
        )


class TestBadInput:
    @pytest.mark.parametrize(
        "shapes,match",
        [
            (((2, 3), (2, 3, V), (2, 3, V)), "target_logits"),
            (((2, 3), (2, 4, V), (2, 2, V)), "draft_logits"),
            (((2, 3), (3, 4, V), (2, 3, V)), "target_logits"),
        ],
        ids=["target-K", "draft-K", "batch"],
    )
    def test_shapes(self, shapes, match):
        d, t, q = shapes
        with pytest.raises(ValueError, match=match):
            batched_verify(mx.zeros(d, mx.int32), mx.zeros(t), mx.zeros(q))

    def test_num_draft_out_of_range(self):
        drafts, target, draft_logits = greedy_case()
        with pytest.raises(ValueError, match="num_draft"):
            batched_verify(drafts, target, draft_logits, num_draft=[0, 1, 5, 2, 3])
