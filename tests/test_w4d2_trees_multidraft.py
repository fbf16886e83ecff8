"""Week 4 Day 2 - multi-draft speculation with sampled drafts (book chapter week4-02-token-trees).

The statistical tests feed :func:`verify_multidraft` trees whose drafts the test draws itself
from an exact draft law ``q`` (numpy, independent of the walk's key), with exact target rows:
the emitted tokens must follow the target's law ``p`` exactly.
"""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest

from specdec.lookup import ModelDrafter
from specdec.multidraft import draft_multi, multidraft_generate, verify_multidraft
from specdec.trees import tree_speculative_generate
from specdec_course.testing import (
    LOG_ZERO,
    CountingModel,
    MarkovModel,
    assert_follows,
    exact_next_distribution,
    exact_sequence_distribution,
    perturbed,
    random_markov,
    tiny_llama,
    tiny_pair,
)
from specdec_course.testing.diffs import token_mismatch
from tests.w1_helpers import mlx_lm_greedy

pytestmark = [pytest.mark.w4d2, pytest.mark.timeout(60)]

# One node's target and draft laws (at T = 1; tempered as softmax(log p / T)). Chosen (by a
# search over Dirichlet draws) so that all three classic bugs of the walk move the first
# token's law far enough to be seen; see TestFirstToken for the power.
P0 = np.array([0.10, 0.52, 0.27, 0.11])
Q0 = np.array([0.23, 0.47, 0.02, 0.28])
SAMPLES = {1: 600, 2: 600, 4: 4000}  # per number of drafts (N = 4 carries the power)
WALK = (
    "for the candidates in order accept x when u * q(x) < r(x) with a fresh uniform u per "
    "node (probability min(1, r(x)/q(x))); after each rejection r <- max(0, r - q) "
    "renormalised, subtracted from the CURRENT residual, not from p; when all are rejected "
    "draw from that last residual. Typical bugs: every draft judged against p (the residual "
    "never updated); max(0, p - q) taken from p instead of the current residual; one uniform "
    "shared by all the drafts of a node"
)


def log_rows(rows):
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(np.asarray(rows, np.float64)), LOG_ZERO).astype(np.float32)


def tempered(row, temperature):
    return exact_next_distribution(np.asarray(row)[None], 0, temperature)


def chains_tree(root, chains):
    """Breadth-first tokens and parents of a root with the given chains (equal lengths)."""
    tokens, parents, last = [root], [-1], [0] * len(chains)
    for d in range(len(chains[0])):
        for j, chain in enumerate(chains):
            tokens.append(chain[d])
            parents.append(last[j])
            last[j] = len(tokens) - 1
    return tokens, parents


class ScriptedSampler:
    """A drafter returning scripted chains, one per call, and recording the keys it got."""

    draft_calls = 0

    def __init__(self, chains, vocab=6):
        self.chains, self.vocab, self.keys = list(chains), vocab, []

    def reset(self):
        pass

    def propose(self, context, k, *, key=None):
        self.keys.append(key)
        chain = self.chains[len(self.keys) - 1][:k]
        rows = np.full((len(chain), self.vocab), float(len(self.keys)), np.float32)
        return chain, mx.array(rows)


class TestDraftMulti:
    def test_breadth_first_layout(self):
        drafter = ScriptedSampler([[1, 2], [3, 3]])
        tokens, parents, rows = draft_multi(
            drafter, [5, 4], n_drafts=2, depth=2, key=mx.random.key(0)
        )
        assert (tokens, parents) == ([4, 1, 3, 2, 3], [-1, 0, 0, 1, 2]), (
            f"got tokens {tokens}, parents {parents}: the root (last context token), then depth "
            "1 of every chain in draft order, then depth 2, each under its own chain's node"
        )
        assert rows.shape == (5, 6) and rows.dtype == mx.float32, (
            f"draft_logits must be float32 (M, V) = (5, 6), one row per node, got {rows.shape}"
        )
        got = np.array(rows)[:, 0].tolist()
        assert got == [0.0, 1.0, 2.0, 1.0, 2.0], (
            f"row i must be the logits node i was drawn from (the root's row zeros); rows "
            f"hold {got}, want [0, 1 (chain 1), 2 (chain 2), 1, 2]"
        )
        a, b = drafter.keys
        assert a is not None and b is not None and not mx.array_equal(a, b), (
            "each chain must get its own key (mx.random.split(key, n_drafts)): with one key "
            "the drafts are copies, not independent samples"
        )

    def test_depth_zero_drafts_nothing(self):
        drafter = ScriptedSampler([[1]])
        tokens, parents, _ = draft_multi(drafter, [5, 4], n_drafts=3, depth=0)
        assert (tokens, parents, drafter.keys) == ([4], [-1], []), (
            "depth = 0 is the root alone, without calling the drafter"
        )

    def test_model_drafter_samples_independent_chains(self):
        flat = MarkovModel(random_markov(12, seed=3, concentration=3.0))
        drafter = ModelDrafter(flat, temperature=1.0)
        tokens, _, _ = draft_multi(drafter, [1, 2], n_drafts=4, depth=3, key=mx.random.key(5))
        chains = {tuple(tokens[1 + j :: 4]) for j in range(4)}
        assert len(chains) > 1, f"four sampled chains from a flat draft law all equal: {tokens}"
        again, _, _ = draft_multi(drafter, [1, 2], n_drafts=4, depth=3, key=mx.random.key(5))
        assert again == tokens, "the same key must draw the same chains"


class TestVerifyRules:
    def test_greedy_walks_on_through_a_duplicate(self):
        #  root(0) -- 7 -- 2     chain 0
        #          -- 7 -- 3     chain 1     target: 7 after the root, 3 after 7, then 5
        tokens, parents = chains_tree(0, [[7, 2], [7, 3]])
        rows = np.zeros((5, 8), np.float32)
        rows[0, 7] = rows[1, 3] = rows[2, 3] = rows[3, 5] = rows[4, 5] = 5.0
        path, emitted = verify_multidraft(tokens, parents, mx.zeros((5, 8)), mx.array(rows))
        assert emitted == [7, 3, 5] and path == [2, 4], (
            f"got path {path}, emitted {emitted}: after 7 is accepted, both chains that start "
            "with 7 are alive, so chain 1's 3 is a candidate too; path is the root-to-node path "
            "of the last accepted node ([2, 4])"
        )

    def test_sampled_walk_on_through_a_duplicate(self):
        # The target must emit 7 then 3; chain 0 proposes 7, 2 and chain 1 proposes 7, 3.
        tokens, parents = chains_tree(0, [[7, 2], [7, 3]])
        target = np.zeros((5, 8))
        target[0, 7] = target[1, 3] = target[2, 3] = 1.0
        draft = np.full((5, 8), 1.0 / 8)
        for seed in range(5):
            path, emitted = verify_multidraft(
                tokens, parents, mx.array(log_rows(draft)), mx.array(log_rows(target)),
                temperature=1.0, key=mx.random.key(seed),
            )
            assert emitted[:2] == [7, 3] and path == [2, 4], (
                f"got path {path}, emitted {emitted}: 2 is rejected, then chain 1's 3 (its "
                "first token equals the accepted 7) is the next candidate and the residual, "
                "all on 3, accepts it: keep the later duplicates of an accepted node alive"
            )

    def test_a_repeated_rejected_draft_still_updates_the_residual(self):
        # Two drafts of token 0, which the target never emits: both are rejected, and the final
        # token comes from the residual after TWO updates, norm(max(0, r1 - q)).
        p, q = np.array([0.0, 0.5, 0.3, 0.2]), np.array([0.4, 0.45, 0.05, 0.1])
        r1 = np.maximum(p - q, 0) / np.maximum(p - q, 0).sum()
        r2 = np.maximum(r1 - q, 0) / np.maximum(r1 - q, 0).sum()
        tokens, parents = [1, 0, 0], [-1, 0, 0]
        target, draft = mx.array(log_rows([p, p, p])), mx.array(log_rows([q, q, q]))
        keys = mx.random.split(mx.random.key(3), 600)
        counts = Counter(
            verify_multidraft(tokens, parents, draft, target, temperature=1.0, key=k)[1][0]
            for k in keys
        )
        assert_follows(
            counts, r2,
            what="the token after two rejected copies of the same draft: each rejection "
            "(even of a token already rejected) subtracts q once more from the current "
            "residual, r <- max(0, r - q), not from p; a walk that never updates the residual, "
            "or skips repeated tokens, draws from the wrong one",
        )

    def test_bad_shapes_and_vocabularies(self):
        tokens, parents = [1, 2, 3], [-1, 0, 0]
        with pytest.raises(ValueError, match="target_logits"):
            verify_multidraft(tokens, parents, mx.zeros((3, 4)), mx.zeros((2, 4)))
        with pytest.raises(ValueError, match="vocab"):
            verify_multidraft(tokens, parents, mx.zeros((3, 5)), mx.zeros((3, 4)))


class TestFirstToken:
    @pytest.mark.parametrize("temperature", [0.7, 1.0])
    @pytest.mark.parametrize("n_drafts", [1, 2, 4])
    def test_first_token_follows_the_target(self, n_drafts, temperature):
        """The first emitted token of a round with N one-token drafts follows p exactly.

        Power (noncentral chi-square, lambda = n * sum((law_bug - p)^2 / p), 3 degrees of
        freedom, level 1e-4), from the exact laws of the buggy walks on P0, Q0 (enumerating
        every draw of the N drafts) with n = 600 (N = 1, 2) and 4000 (N = 4) samples. Per
        case, T = 0.7 / T = 1.0:

        * "forget to update the residual" (every draft judged against p, the final draw
          from p): lambda >= 84, power >= 0.9999 in every case, N = 1 included;
        * "use p instead of the residual after a rejection" (r <- max(0, p - q) from p,
          not from the current residual; the correct walk at N = 1): N = 2 0.24 / 0.03,
          N = 4 1.0000 / 1.0000 (lambda 456 / 228);
        * "reuse one uniform for all the drafts of a node" (the correct walk at N = 1):
          N = 2 0.01 / 0.08, N = 4 0.83 / 0.999 (lambda 28 / 56).

        So each bug fails at least one of the six cases with probability above 0.9998
        (0.99984 for the shared uniform, the weakest); a correct walk fails each case with
        probability 1e-4.
        """
        p, q = tempered(P0, temperature), tempered(Q0, temperature)
        target = mx.array(log_rows(np.tile(P0, (n_drafts + 1, 1))))
        draft = mx.array(log_rows(np.tile(Q0, (n_drafts + 1, 1))))
        rng = np.random.default_rng(100 * n_drafts + int(10 * temperature))
        n = SAMPLES[n_drafts]
        drafts = rng.choice(4, size=(n, n_drafts), p=q).tolist()
        keys = mx.random.split(mx.random.key(n_drafts), n)
        counts = Counter()
        for i in range(n):
            tokens_parents = chains_tree(0, [[x] for x in drafts[i]])
            _, emitted = verify_multidraft(
                *tokens_parents, draft, target, temperature=temperature, key=keys[i]
            )
            counts[emitted[0]] += 1
        assert_follows(
            counts, p,
            what=f"the first token at T={temperature} with N={n_drafts} sampled drafts: {WALK}",
        )


class TestJointOfTwoTokens:
    @pytest.mark.parametrize("n_drafts,temperature", [(2, 1.0), (4, 0.7)])
    def test_two_tokens_follow_the_target(self, n_drafts, temperature):
        # Chains of 2 tokens on a 4-token Markov pair; a round that emits one token is
        # completed with an exact draw of the second. The joint must be the target's (16
        # outcomes); this sees the walk's descent: alive duplicates, and per-node rows.
        big_p = random_markov(4, seed=21, concentration=0.8)
        big_q = perturbed(big_p, 0.8, seed=22)
        rng = np.random.default_rng(7)
        keys = mx.random.split(mx.random.key(8), 1000)
        counts = Counter()
        for i in range(1000):
            chains = []
            for _ in range(n_drafts):
                a = int(rng.choice(4, p=exact_next_distribution(big_q, 2, temperature)))
                b = int(rng.choice(4, p=exact_next_distribution(big_q, a, temperature)))
                chains.append([a, b])
            tokens, parents = chains_tree(2, chains)
            target = mx.array(log_rows(big_p[tokens]))
            draft = mx.array(log_rows(big_q[[tokens[max(j, 0)] for j in parents]]))
            _, emitted = verify_multidraft(
                tokens, parents, draft, target, temperature=temperature, key=keys[i]
            )
            if len(emitted) == 1:
                nxt = exact_next_distribution(big_p, emitted[0], temperature)
                emitted.append(int(rng.choice(4, p=nxt)))
            counts[tuple(emitted[:2])] += 1
        assert_follows(
            counts, exact_sequence_distribution(big_p, 2, 2, temperature),
            what=f"two tokens at T={temperature} from {n_drafts} sampled chains of 2: {WALK}; "
            "after an acceptance continue from the accepted node's row, with the later drafts "
            "that share its token as extra candidates",
        )


class TestGenerate:
    @pytest.mark.parametrize("n_drafts", [1, 3])
    def test_greedy_is_the_targets_greedy(self, n_drafts):
        draft, target = tiny_pair(7)
        want = mlx_lm_greedy(target, [5, 9, 2], 20)
        got = multidraft_generate(draft, target, [5, 9, 2], 20, n_drafts=n_drafts, depth=3)
        assert got.tokens == want, token_mismatch(
            got.tokens, want, "at T = 0 accept a draft only when it is the target's argmax",
            what=f"N={n_drafts} greedy against target-only greedy",
        )
        chain = tree_speculative_generate(draft, target, [5, 9, 2], 20, branch=1, depth=3)
        assert got == chain, (
            "at T = 0 every sampled draft is the draft's argmax chain: draw one chain, so the "
            f"round is Week 1's at K = depth; got {got}, want {chain}"
        )

    def test_one_target_pass_per_round(self):
        target = CountingModel(MarkovModel(random_markov(6, seed=4, concentration=1.0)))
        draft = CountingModel(MarkovModel(random_markov(6, seed=5, concentration=1.0)))
        result = multidraft_generate(
            draft, target, [1, 2], 16, n_drafts=3, depth=2, temperature=1.0,
            key=mx.random.key(1),
        )
        assert len(result.tokens) == 16 and target.calls == 1 + result.rounds, (
            f"{result.rounds} rounds made {target.calls} target calls: one prefill plus ONE "
            "tree pass per round"
        )
        assert target.tokens_per_call[1:] == [d + 1 for d in result.drafted_per_round], (
            "each round feeds the root and every drafted node (1 + N * d) in one call"
        )
        assert set(result.drafted_per_round[:-1]) <= {6} and result.draft_calls == draft.calls, (
            f"drafted per round {result.drafted_per_round}: N = 3 chains of d = 2 tokens (the "
            "last round may be capped); draft_calls must be the drafter's count"
        )

    def test_whole_rounds_follow_the_target(self):
        probs = random_markov(4, seed=9, concentration=0.5)
        target, draft = MarkovModel(probs), MarkovModel(perturbed(probs, 1.0, seed=109))
        keys = mx.random.split(mx.random.key(12), 300)
        counts = Counter(
            tuple(multidraft_generate(
                draft, target, [1], 3, n_drafts=2, depth=2, temperature=1.0, key=k
            ).tokens)
            for k in keys
        )
        assert_follows(
            counts, exact_sequence_distribution(probs, 1, 3, temperature=1.0),
            what="3 tokens at T=1 from generation with 2 sampled chains of 2 tokens (keep the "
            "accepted path in the target cache with keep_path(cache, prefix, [0, *path]))",
        )
        same = [
            multidraft_generate(draft, target, [1], 8, temperature=1.0, key=mx.random.key(4))
            .tokens for _ in range(2)
        ]
        assert same[0] == same[1], "the same key must give the same tokens"


class TestBadInput:
    @pytest.mark.parametrize(
        "kwargs,exc,match",
        [
            (dict(n_drafts=0), ValueError, "n_drafts"),
            (dict(n_drafts=2.0), TypeError, "n_drafts"),
            (dict(depth=-1), ValueError, "depth"),
            (dict(temperature=-0.5), ValueError, "temperature"),
        ],
    )
    def test_bad_settings(self, kwargs, exc, match):
        draft, target = (CountingModel(m) for m in tiny_pair(0))
        with pytest.raises(exc, match=match):
            multidraft_generate(draft, target, [1, 2], 5, **kwargs)
        assert target.calls == draft.calls == 0, "check the arguments before any model runs"

    def test_vocabularies_differ(self):
        target = CountingModel(tiny_llama(0))
        draft = CountingModel(tiny_llama(0, vocab_size=32))
        with pytest.raises(ValueError, match="vocab"):
            multidraft_generate(draft, target, [1, 2], 5, temperature=1.0)
        assert target.calls == draft.calls == 0, (
            "compare the vocabularies (check_same_vocab) before any model runs"
        )
