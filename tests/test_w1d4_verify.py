"""Week 1 Day 4 - verification: accept, reject, correct (book chapter week1-04-verify)."""

import math
from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.verify import verify_speculation
from specdec_course.testing.guards import zero_size
from specdec_course.testing.stats import assert_follows, binomial_bound

pytestmark = pytest.mark.w1d4

V = 8


def peaked(tokens: list[int], vocab: int = V) -> mx.array:
    """Logits whose argmax in row i is tokens[i]; the runner-up is well behind."""
    rows = np.zeros((len(tokens), vocab), dtype=np.float32)
    rows[np.arange(len(tokens)), tokens] = 5.0
    rows[:, (np.array(tokens) + 1) % vocab] += 2.0
    return mx.array(rows)


def log_probs(p) -> mx.array:
    """Logits with softmax equal to the given probability rows (zeros -> -1e9)."""
    p = np.asarray(p, dtype=np.float64)
    return mx.array(np.where(p > 0, np.log(np.maximum(p, 1e-300)), -1e9).astype(np.float32))


class TestGreedy:
    DRAFT = [3, 1, 4, 1]

    def _check(self, target_choices, expect_n, expect_tokens):
        n, tokens = verify_speculation(self.DRAFT, peaked(target_choices), peaked(self.DRAFT), temperature=0.0)
        assert (n, tokens) == (expect_n, expect_tokens), (
            f"draft {self.DRAFT}, target argmaxes {target_choices}: expected {(expect_n, expect_tokens)}, "
            f"got {(n, tokens)}: n counts the drafts BEFORE the first mismatch (a later match does "
            "not count), then the target's argmax at position n"
        )
        assert all(type(t) is int for t in tokens) and type(n) is int, "return Python ints"

    def test_mismatch_at_first_position(self):
        self._check([2, 1, 4, 1, 5], 0, [2])

    def test_mismatch_in_the_middle(self):
        self._check([3, 1, 6, 1, 5], 2, [3, 1, 6])

    def test_mismatch_at_last_position(self):
        self._check([3, 1, 4, 7, 5], 3, [3, 1, 4, 7])

    def test_full_acceptance_adds_the_bonus_token(self):
        n, tokens = verify_speculation(self.DRAFT, peaked([3, 1, 4, 1, 5]), peaked(self.DRAFT))
        assert n == 4, f"all 4 draft tokens match the target, accepted {n}"
        assert tokens == [3, 1, 4, 1, 5], (
            f"got {tokens}: the bonus token (target argmax of row K) is missing after full acceptance"
            if tokens == self.DRAFT else f"expected [3, 1, 4, 1, 5], got {tokens}"
        )

    def test_stops_at_first_mismatch_even_if_later_ones_match(self):
        self._check([3, 0, 4, 1, 5], 1, [3, 0])

    def test_k_zero_emits_the_target_token(self):
        with zero_size("K = 0 (no draft tokens)", "emit the target's argmax of row 0"):
            n, tokens = verify_speculation([], peaked([6]), mx.zeros((0, V)))
        assert (n, tokens) == (0, [6]), f"K=0: emit the target's argmax of row 0, got {(n, tokens)}"

    def test_k_one(self):
        assert verify_speculation([2], peaked([2, 7]), peaked([2])) == (1, [2, 7]), (
            "K=1, draft [2] equal to the target's argmax: expected (1, [2, 7]), the accepted "
            "draft plus the bonus token (the target's argmax of row K=1)"
        )
        assert verify_speculation([2], peaked([5, 7]), peaked([2])) == (0, [5]), (
            "K=1, draft [2] but target argmax 5: expected (0, [5]), nothing accepted and the "
            "correction is the target's argmax of row 0 (no bonus token after a rejection)"
        )

    def test_greedy_ignores_draft_confidence(self):
        # The draft's logits are irrelevant at T=0: only the target's argmax counts.
        n, tokens = verify_speculation([3, 1], peaked([3, 1, 2]), mx.zeros((2, V)))
        assert (n, tokens) == (2, [3, 1, 2]), (
            f"got {(n, tokens)}: at T=0 compare each draft token with the target's argmax only; "
            "the draft's logits must not matter (no min(1, p/q) test at T=0)"
        )

    def test_bf16_logits(self):
        n, tokens = verify_speculation(self.DRAFT, peaked([3, 1, 6, 1, 5]).astype(mx.bfloat16),
                                       peaked(self.DRAFT).astype(mx.bfloat16))
        assert (n, tokens) == (2, [3, 1, 6]), (
            f"bfloat16 logits gave {(n, tokens)}, float32 ones give (2, [3, 1, 6]): cast the "
            "logits to float32 before any arithmetic"
        )

    @pytest.mark.parametrize("t_shape,d_shape", [((4, V), (4, V)), ((5, V), (3, V)), ((5, V), (4, V + 1))])
    def test_shape_mismatch_is_a_clear_error(self, t_shape, d_shape):
        with pytest.raises(ValueError, match="shape"):
            verify_speculation(self.DRAFT, mx.zeros(t_shape), mx.zeros(d_shape))


# Target and draft distributions over 5 tokens for the statistical tests.
P = np.array([[0.40, 0.30, 0.15, 0.10, 0.05], [0.10, 0.20, 0.30, 0.25, 0.15], [0.2, 0.2, 0.2, 0.2, 0.2]])
Q = np.array([[0.10, 0.20, 0.30, 0.25, 0.15], [0.40, 0.30, 0.15, 0.10, 0.05]])
N = 4000  # draws per statistical test; chi-square / binomial at false-failure 1e-4 each


def check_round(drafts, n, tokens, vocab):
    """Fail with the student's bug named (never an IndexError in a test) on a malformed result."""
    k = len(drafts)
    assert type(n) is int and 0 <= n <= k, f"n must be an int in [0, K={k}], got {n!r}"
    assert isinstance(tokens, list) and len(tokens) == n + 1, (
        f"n={n} but {len(tokens) if isinstance(tokens, list) else tokens!r} tokens: return the n accepted "
        "draft tokens plus exactly ONE more (the correction, or the bonus token after full acceptance)"
    )
    assert tokens[:n] == drafts[:n], f"the first n={n} tokens must be the accepted drafts {drafts[:n]}, got {tokens}"
    assert all(type(t) is int and 0 <= t < vocab for t in tokens), f"tokens must be ints in [0, {vocab}): {tokens}"


def run_trials(p_rows, q_rows, temperature, n_trials, seed):
    """Draft K tokens from q (numpy, independent of the student's code), verify, collect."""
    rng = np.random.default_rng(seed)
    k = len(q_rows)
    keys = mx.random.split(mx.random.key(seed), n_trials)
    tl, dl = log_probs(p_rows), log_probs(q_rows)
    q_t = np.array(q_rows) ** (1 / temperature)
    q_t /= q_t.sum(-1, keepdims=True)
    out = []
    for i in range(n_trials):
        drafts = [int(rng.choice(q_t.shape[1], p=q_t[j])) for j in range(k)]
        n, tokens = verify_speculation(drafts, tl, dl, temperature=temperature, key=keys[i])
        check_round(drafts, n, tokens, q_t.shape[1])
        out.append((drafts, n, tokens))
    return out


def at_temperature(p, t):
    p = np.asarray(p) ** (1 / t)
    return p / p.sum(-1, keepdims=True)


class TestSampling:
    @pytest.mark.parametrize("temperature", [1.0, 0.5])
    def test_first_emitted_token_follows_the_target(self, temperature):
        trials = run_trials(P, Q, temperature, N, seed=1)
        counts = Counter(tokens[0] for _, _, tokens in trials)
        assert_follows(counts, dict(enumerate(at_temperature(P[0], temperature))),
                       what=f"first emitted token at T={temperature}: it must follow the TARGET p exactly "
                            "(accept with min(1, p/q); at the FIRST rejection stop and correct from max(0, p - q); "
                            "both at the same T)")

    def test_correction_is_drawn_from_the_residual(self):
        # Conditioned on rejecting the first token, the emitted token follows
        # max(0, p - q) normalised - not p and not q.
        trials = run_trials(P[:2], Q[:1], 1.0, N, seed=2)
        counts = Counter(tokens[0] for _, n, tokens in trials if n == 0)
        residual = np.maximum(P[0] - Q[0], 0)
        assert_follows(counts, dict(enumerate(residual / residual.sum())),
                       what="the correction after a rejection (sample from max(0, p - q) normalised)")

    def test_bonus_token_follows_the_last_target_row(self):
        trials = run_trials(P[:2], Q[:1], 1.0, N, seed=3)
        counts = Counter(tokens[1] for _, n, tokens in trials if n == 1)
        assert_follows(counts, dict(enumerate(P[1])), what="the bonus token after full acceptance (row K of p)")

    def test_acceptance_rate_is_sum_of_min(self):
        trials = run_trials(P[:2], Q[:1], 1.0, N, seed=4)
        accepted = sum(n for _, n, _ in trials)
        alpha = float(np.minimum(P[0], Q[0]).sum())  # 0.60
        token_match = float((P[0] * Q[0]).sum())  # 0.195: what "accept if the target samples the same token" gives
        ok, msg = binomial_bound(accepted, N, alpha)
        assert ok, f"acceptance rate must be sum(min(p, q)) = {alpha:.3f}: {msg}"
        # The test can tell the two rules apart: the token-match rate is far outside the bound.
        assert not binomial_bound(int(token_match * N), N, alpha)[0], (
            f"test setup: the token-match rate {token_match:.3f} lies inside the bound for "
            f"alpha = {alpha:.3f}, so P and Q cannot tell the two acceptance rules apart"
        )

    def test_identical_distributions_accept_everything(self):
        trials = run_trials(P, P[:2], 1.0, 500, seed=5)
        assert all(n == 2 for _, n, _ in trials), "with p == q every draft token must be accepted"
        assert all(len(t) == 3 and 0 <= t[-1] < 5 for _, _, t in trials), "then a bonus token follows"

    def test_disjoint_supports_accept_nothing(self):
        p = np.array([[0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25]])
        q = np.array([[0, 0, 0.5, 0.5]])
        trials = run_trials(p, q, 1.0, 300, seed=6)
        assert all(n == 0 for _, n, _ in trials), "p(x) = 0 for every draft token: nothing may be accepted"
        assert {t[0] for _, _, t in trials} <= {0, 1}, "the correction must come from where p has mass"

    def test_draft_token_with_zero_draft_probability_is_rejected(self):
        # q(x) = 0 (the draft would never propose x at this T): reject, no NaN.
        p = log_probs([[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
        q = log_probs([[0.0, 0.5, 0.5]])
        for seed in range(20):
            n, tokens = verify_speculation([0], p, q, temperature=1.0, key=mx.random.key(seed))
            assert n == 0 and len(tokens) == 1 and tokens[0] in (0, 1), (
                f"q(x)=0 must count as a rejection (then one correction token), got {(n, tokens)}")

    def test_empty_residual_gives_a_valid_token(self):
        # p == q, and the draft token has probability 0 under both: rejected, and
        # max(0, p - q) sums to 0. Fall back to p instead of NaN / a bad id.
        probs = log_probs([[0.5, 0.5, 0.0, 0.0], [0.25] * 4])
        for seed in range(20):
            n, tokens = verify_speculation([2], probs, probs[:1], temperature=1.0, key=mx.random.key(seed))
            assert n == 0 and len(tokens) == 1 and tokens[0] in (0, 1), (
                f"got {(n, tokens)}: an all-zero residual must not be normalised by 0 "
                "(reject, then emit one valid token drawn from p)"
            )

    def test_reproducible_with_same_key(self):
        tl, dl = log_probs(P), log_probs(Q)
        runs = {tuple(verify_speculation([1, 3], tl, dl, temperature=1.0, key=mx.random.key(42))[1]) for _ in range(5)}
        assert len(runs) == 1, "the same key must give the same decision"


class TestWholeRound:
    """The law of a whole K = 2 round, not just its first token.

    Bugs that keep the first emitted token right (the residual taken from the wrong row, a
    bonus token from the draft, one uniform shared by every position, counting accepted
    positions past a rejection) only show in the number of accepted tokens and in the
    later tokens. Rows do not depend on earlier tokens here, so completing every round's
    output to 3 tokens with fresh target draws must give exactly p0 x p1 x p2.
    2000 rounds (each of those bugs moves >= 1/3 of them to a wrong law), chi-square at
    false-failure 1e-4 for each of the two checks, a fixed seed.
    """

    def test_accepted_count_and_all_tokens_follow_the_target(self, temperature=0.7):
        p, q = at_temperature(P, temperature), at_temperature(Q, temperature)
        trials = run_trials(P, Q, temperature, 2000, seed=21)
        alpha = np.minimum(p[:2], q).sum(-1)
        exact_n = {0: 1 - alpha[0], 1: alpha[0] * (1 - alpha[1]), 2: alpha[0] * alpha[1]}
        assert_follows(Counter(n for _, n, _ in trials), exact_n,
                       what=f"the number of accepted tokens n in a K=2 round at T={temperature} "
                            "(P(n=j) = alpha_1 ... alpha_j (1 - alpha_(j+1)); stop at the FIRST rejection, "
                            "one fresh uniform per position, accept with min(1, p/q))")
        rng = np.random.default_rng(22)
        completed = Counter()
        for _, _, tokens in trials:
            full = tokens + [int(rng.choice(5, p=p[j])) for j in range(len(tokens), 3)]
            completed[tuple(full)] += 1
        exact = {(a, b, c): p[0, a] * p[1, b] * p[2, c] for a in range(5) for b in range(5) for c in range(5)}
        assert_follows(completed, exact,
                       what=f"the tokens of a K=2 round at T={temperature} (every position must follow its "
                            "target row: the correction from max(0, p - q) of the REJECTED row, the bonus "
                            "token from p's last row)")
