"""Week 4 Day 2 - token trees: many drafts, one verify (book chapter week4-02-token-trees)."""

from collections import Counter

import mlx.core as mx
import numpy as np
import pytest
from mlx_lm.models.cache import make_prompt_cache

from specdec.decoder import SpeculativeDecoder
from specdec.lookup import ModelDrafter
from specdec.trees import (
    draft_tree,
    tree_mask_and_positions,
    tree_speculative_generate,
    verify_tree,
)
from specdec_course.api.trees import keep_path, tree_forward
from specdec_course.testing import (
    CountingModel,
    MarkovModel,
    assert_follows,
    exact_sequence_distribution,
    logit_atol,
    perturbed,
    random_markov,
    tiny_llama,
    tiny_pair,
    untrimmable,
)
from specdec_course.testing.diffs import token_mismatch
from specdec_course.testing.ties import assert_greedy_equal_or_tie
from tests.w1_helpers import BUNDLED_PROMPTS, bundled_greedy, bundled_pair, mlx_lm_greedy

# A test that runs past 60 s is a hang (e.g. a walk that never leaves a node): fail it.
pytestmark = [pytest.mark.w4d2, pytest.mark.timeout(60)]

# The hand-drawn tree of the chapter: a root with two children, the second of which has two
# children of its own.
#        0
#       / \
#      1   2
#         / \
#        3   4
HAND_PARENTS = [-1, 0, 0, 2, 2]
HAND_MASK = [
    [1, 0, 0, 0, 0],
    [1, 1, 0, 0, 0],
    [1, 0, 1, 0, 0],
    [1, 0, 1, 1, 0],
    [1, 0, 1, 0, 1],
]
HAND_DEPTHS = [0, 1, 1, 2, 2]


def first_difference(a, b):
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def path_of(parents, node):
    path = []
    while node >= 0:
        path.append(node)
        node = parents[node]
    return path[::-1]


def ring_markov(vocab, weights):
    """Markov rows where token t is followed by (t + s) % V with weight weights[s]."""
    probs = np.zeros((vocab, vocab))
    for t in range(vocab):
        for s, w in weights.items():
            probs[t, (t + s) % vocab] += w
    rest = 1.0 - probs.sum(axis=1, keepdims=True)
    probs += np.where(probs == 0, rest / (probs == 0).sum(axis=1, keepdims=True), 0.0)
    return probs


class TestMaskAndPositions:
    def test_hand_drawn_tree(self):
        mask, depths = tree_mask_and_positions(HAND_PARENTS)
        assert mask.shape == (5, 5) and mask.dtype == mx.bool_, (
            f"the mask is bool (N, N) = (5, 5), got {mask.shape} {mask.dtype}"
        )
        got = np.array(mask).astype(int).tolist()
        assert got == HAND_MASK, (
            f"mask {got}, want {HAND_MASK}: row i allows node i, its parent, its parent's "
            "parent ... up to the root, and never a sibling (row 4 must not see node 3) or a "
            "descendant"
        )
        assert depths.dtype == mx.int32 and depths.tolist() == HAND_DEPTHS, (
            f"depths {depths.tolist()} ({depths.dtype}), want int32 {HAND_DEPTHS}: a node's "
            "depth is its number of ancestors; siblings share a depth (and so a position)"
        )

    def test_a_chain_is_the_causal_mask(self):
        mask, depths = tree_mask_and_positions([-1, 0, 1, 2, 3, 4])
        assert np.array_equal(np.array(mask), np.tril(np.ones((6, 6), bool))), (
            "a tree of width 1 is Week 1's chain: its mask must be the causal (lower "
            "triangular) mask, every node seeing ALL its ancestors, not only its parent"
        )
        assert depths.tolist() == list(range(6)), "a chain's depths are 0, 1, 2, ..."

    @pytest.mark.parametrize("parents", [[], [0], [-1, 1], [-1, 0, 3, 0], [-2]])
    def test_bad_parents(self, parents):
        with pytest.raises(ValueError, match="parent|empty|node"):
            tree_mask_and_positions(parents)


class TestTreePass:
    """Your mask and depths drive ONE real transformer pass over a tree (course machinery)."""

    PROMPT = [3, 7, 11, 2]
    TOKENS = [5, 9, 12, 40, 41]

    def _tree_pass(self, model):
        cache = make_prompt_cache(model)
        model(mx.array(self.PROMPT)[None], cache=cache)
        mask, depths = tree_mask_and_positions(HAND_PARENTS)
        return cache, tree_forward(model, self.TOKENS, cache, mask, depths)

    def test_every_node_gets_its_paths_logits(self):
        model = tiny_llama(3)
        _, logits = self._tree_pass(model)
        for node in range(len(HAND_PARENTS)):
            path = [self.TOKENS[i] for i in path_of(HAND_PARENTS, node)]
            want = model(mx.array(self.PROMPT + path)[None])[0, -1]
            err = float(mx.abs(logits[node] - want).max())
            assert err <= logit_atol(want), (
                f"node {node} (path {path}): the tree pass's logits differ from a plain pass "
                f"over prompt + path by {err:.3g}: a node must attend to exactly its ancestors "
                "and itself (mask) and sit at position prefix + depth (depths)"
            )

    def test_keep_path_leaves_the_plain_cache(self):
        model = tiny_llama(3)
        cache, _ = self._tree_pass(model)
        keep_path(cache, len(self.PROMPT), [0, 2, 4])
        plain = make_prompt_cache(model)
        model(mx.array(self.PROMPT + [5, 12, 41])[None], cache=plain)
        for layer, (got, want) in enumerate(zip(cache, plain, strict=True)):
            assert got.offset == want.offset == len(self.PROMPT) + 3, (
                f"layer {layer}: offset {got.offset} after keep_path, want prompt + path = "
                f"{len(self.PROMPT) + 3}"
            )
            for name in ("keys", "values"):
                a = getattr(got, name)[..., : got.offset, :]
                b = getattr(want, name)[..., : want.offset, :]
                err = float(mx.abs(a - b).max())
                assert err <= logit_atol(b), (
                    f"layer {layer} {name} after keeping path [0, 2, 4] differ from a plain "
                    f"pass over it by {err:.3g}: the kept keys were rotated for the wrong "
                    "positions (depths) or computed with the wrong mask"
                )
        nxt_tree = model(mx.array([7])[None], cache=cache)[0, -1]
        nxt_plain = model(mx.array([7])[None], cache=plain)[0, -1]
        assert float(mx.abs(nxt_tree - nxt_plain).max()) <= logit_atol(nxt_plain), (
            "the next plain step after keep_path differs from one after a plain pass over the "
            "path: the kept cache is not the plain one"
        )


class TableDrafter:
    """A greedy drafter reading its rows from a Markov table (no model, no cache)."""

    draft_calls = 0

    def __init__(self, probs):
        self.logits = np.log(probs).astype(np.float32)

    def reset(self):
        pass

    def propose(self, context, k, *, key=None):
        tokens, rows = [], []
        for _ in range(k):
            rows.append(self.logits[tokens[-1] if tokens else context[-1]])
            tokens.append(int(np.argmax(rows[-1])))
        return tokens, mx.array(np.array(rows).reshape(k, -1))


class TestDraftTree:
    # The draft's favourite after t is (t + 1) % 6, then (t + 3) % 6, then (t + 2) % 6.
    DRAFT = ring_markov(6, {1: 0.5, 3: 0.25, 2: 0.15})

    def test_chain_and_runners_up(self):
        tokens, parents = draft_tree(TableDrafter(self.DRAFT), [4, 0], branch=3, depth=2)
        assert (tokens, parents) == ([0, 1, 3, 2, 2, 4, 3], [-1, 0, 0, 0, 1, 1, 1]), (
            f"got tokens {tokens}, parents {parents}: root = the last context token; then per "
            "depth the chain token (the draft's best) first, then the next best tokens as its "
            "siblings (same parent), and the chain continues from the chain token"
        )

    def test_branch_one_is_the_chain(self):
        tokens, parents = draft_tree(TableDrafter(self.DRAFT), [4, 0], branch=1, depth=3)
        assert (tokens, parents) == ([0, 1, 2, 3], [-1, 0, 1, 2]), (
            "branch = 1 is Week 1's single chain of `depth` draft tokens"
        )

    def test_real_draft_model(self):
        tokens, parents = draft_tree(
            ModelDrafter(MarkovModel(self.DRAFT)), [4, 0], branch=2, depth=2
        )
        assert (tokens, parents) == ([0, 1, 3, 2, 4], [-1, 0, 0, 1, 1]), (
            f"got {tokens}, {parents} from a ModelDrafter (W4D1) at temperature 0"
        )


class TestVerifyTree:
    def _logits(self, argmaxes, vocab=8):
        rows = np.zeros((len(argmaxes), vocab), np.float32)
        for i, t in enumerate(argmaxes):
            rows[i, t] = 5.0
        return mx.array(rows)

    def test_greedy_follows_the_targets_choices(self):
        #        0(t=1)
        #       /      \
        #    1(t=2)   2(t=3)           target argmax: after 0 -> 3, after 2 -> 6
        #            /      \
        #        3(t=5)   4(t=6)
        tokens, parents = [1, 2, 3, 5, 6], HAND_PARENTS
        path, emitted = verify_tree(tokens, parents, self._logits([3, 0, 6, 0, 7]))
        assert (path, emitted) == ([2, 4], [3, 6, 7]), (
            f"got {(path, emitted)}: the target picks 3 at the root (node 2, the SECOND child), "
            "then 6 (node 4, a second child again), then 7 after node 4 (the bonus token)"
        )
        path, emitted = verify_tree(tokens, parents, self._logits([4, 0, 6, 0, 7]))
        assert (path, emitted) == ([], [4]), (
            "no child of the root is the target's choice: accept nothing, emit the argmax"
        )

    def test_bad_shapes(self):
        with pytest.raises(ValueError, match="target_logits"):
            verify_tree([1, 2, 3], [-1, 0, 0], self._logits([1, 2]))


class TestGreedyIsLossless:
    @pytest.mark.parametrize("branch,depth", [(2, 3), (3, 2)])
    @pytest.mark.parametrize(
        "seed,prompt",
        [(4, [3]), (7, [5, 9, 2]), (1, list(range(11, 28)))],
        ids=["s4-len1", "s7-len3", "s1-len17"],
    )
    def test_tiny_pairs(self, seed, prompt, branch, depth):
        draft, target = tiny_pair(seed)
        want = mlx_lm_greedy(target, prompt, 30)  # NearTieError on a seed with a near-tie
        result = tree_speculative_generate(draft, target, prompt, 30, branch=branch, depth=depth)
        assert result.tokens == want, token_mismatch(
            result.tokens,
            want,
            "keep exactly the accepted path in the target cache (keep_path with the root "
            "first) and emit the target's argmax after the last accepted node",
            what=f"branch={branch}, depth={depth}: output against target-only greedy",
        )

    def test_width_one_is_week1(self):
        draft, target = tiny_pair(2)
        want = SpeculativeDecoder(draft, target, 3).generate([5, 9, 2], 25)
        got = tree_speculative_generate(draft, target, [5, 9, 2], 25, branch=1, depth=3)
        assert got == want, (
            "branch = 1 is a single chain: the tree loop must do what the Week 1 loop does at "
            f"K = depth (tokens, rounds, call counts); got {got}, want {want}"
        )

    def test_the_second_branch_is_the_targets_choice(self):
        # The draft's favourite after t is t + 2; the target's is t + 1, the draft's runner-up.
        target = MarkovModel(ring_markov(8, {1: 0.9}))
        draft = MarkovModel(ring_markov(8, {2: 0.5, 1: 0.35}))
        want = [(i + 1) % 8 for i in range(12)]
        chain = tree_speculative_generate(draft, target, [0], 12, branch=1, depth=3)
        tree = tree_speculative_generate(draft, target, [0], 12, branch=2, depth=3)
        assert chain.tokens == tree.tokens == want, (
            f"chain {chain.tokens}, tree {tree.tokens}, want the target's greedy {want}"
        )
        assert set(chain.accepted_per_round) == {0}, "setup: the chain's first draft always fails"
        assert tree.accepted_per_round == [1] * 6, (
            f"accepted per round {tree.accepted_per_round}: the target's choice is the draft's "
            "second-best token, a sibling in the tree: accept it (1 per round, then the bonus)"
        )

    def test_bundled_pair(self):
        draft, target, _ = bundled_pair()
        prompt, want = bundled_greedy(BUNDLED_PROMPTS[0], 12)
        result = tree_speculative_generate(draft, target, prompt, 12, branch=2, depth=3)
        # bfloat16: a tree pass and 1-token steps may round differently; equal except at
        # named near-ties (testing.ties).
        assert_greedy_equal_or_tie(
            target, prompt, result.tokens, want, what="a token tree on the bundled pair"
        )
        assert result.target_calls < 1 + 12, "the tree must save target calls on this pair"


class TestCalls:
    def test_one_target_call_per_round(self):
        draft, target = tiny_pair(7)
        target, draft = CountingModel(target), CountingModel(draft)
        prompt = [5, 9, 2]
        result = tree_speculative_generate(draft, target, prompt, 20, branch=2, depth=3)
        assert target.calls == 1 + result.rounds, (
            f"{result.rounds} rounds made {target.calls} target calls: one prefill plus ONE "
            "tree pass per round"
        )
        assert target.tokens_per_call[1:] == [d + 1 for d in result.drafted_per_round], (
            "each round feeds the root (last context token) and every drafted node in one call"
        )
        emitted = np.cumsum([0] + [a + 1 for a in result.accepted_per_round])[:-1]
        assert target.start_positions[1:] == [len(prompt) - 1 + int(e) for e in emitted], (
            "each tree pass must start right after the context minus its last token: keep only "
            "the accepted path (keep_path) after every round"
        )
        assert result.draft_calls == draft.calls, "result.draft_calls: the draft's passes"

    @pytest.mark.parametrize("max_tokens", [1, 2, 5])
    def test_never_overshoots_max_tokens(self, max_tokens):
        target = MarkovModel(ring_markov(8, {1: 0.9}))
        draft = MarkovModel(ring_markov(8, {1: 0.6, 2: 0.3}))
        result = tree_speculative_generate(draft, target, [0], max_tokens, branch=2, depth=4)
        assert result.tokens == [(i + 1) % 8 for i in range(max_tokens)], (
            f"max_tokens={max_tokens}: cap the depth at max_tokens - emitted - 1 each round"
        )

    def test_eos_inside_the_accepted_path(self):
        target = MarkovModel(ring_markov(8, {1: 0.9}))
        draft = MarkovModel(ring_markov(8, {1: 0.6, 2: 0.3}))
        result = tree_speculative_generate(
            draft, target, [0], 20, branch=2, depth=4, eos_token_id=3
        )
        assert result.tokens == [1, 2, 3] and result.finish_reason == "eos", (
            f"got {result.tokens}: stop right after the EOS, even inside an accepted path"
        )


class TestSampledIsLossless:
    def test_joint_distribution_of_three_tokens_is_the_targets(self):
        # Three candidates per depth, each rejected often: a walk that does not remove the
        # rejected siblings' mass, or draws the final token from p instead of the residual,
        # fails here with probability > 0.999 at 400 samples (power computed from the exact
        # laws of those bugs); a correct walk fails with probability 1e-4.
        probs = random_markov(4, seed=9, concentration=0.5)
        target, draft = MarkovModel(probs), MarkovModel(perturbed(probs, 1.0, seed=109))
        keys = mx.random.split(mx.random.key(12), 400)
        counts, accepted = Counter(), 0
        for i in range(400):
            r = tree_speculative_generate(
                draft, target, [1], 3, branch=3, depth=2, temperature=0.7, key=keys[i]
            )
            counts[tuple(r.tokens)] += 1
            accepted += r.tokens_accepted
        assert accepted > 200, "setup: the test needs accepted tree nodes"
        assert_follows(
            counts,
            exact_sequence_distribution(probs, 1, 3, temperature=0.7),
            what="3 tokens at T=0.7 from a tree with 3 candidates per depth: accept a child "
            "with probability p'(x), where p' is p with the rejected siblings' mass removed "
            "and renormalised, with a fresh uniform for each child tried; draw the final token "
            "from that residual",
        )

    def test_same_key_same_output(self):
        draft, target = tiny_pair(2)
        run = [
            tree_speculative_generate(
                draft, target, [1, 2], 12, temperature=1.0, key=mx.random.key(k)
            ).tokens
            for k in (5, 5, 6)
        ]
        assert run[0] == run[1], "the same key must give the same tokens"
        assert run[0] != run[2], "different keys should give different samples here"


class TestBadInput:
    @pytest.mark.parametrize(
        "kwargs,exc,match",
        [
            (dict(branch=0), ValueError, "branch"),
            (dict(depth=-1), ValueError, "depth"),
            (dict(branch=2.0), TypeError, "branch"),
            (dict(temperature=-1.0), ValueError, "temperature"),
        ],
    )
    def test_bad_settings(self, kwargs, exc, match):
        draft, target = (CountingModel(m) for m in tiny_pair(0))
        with pytest.raises(exc, match=match):
            tree_speculative_generate(draft, target, [1, 2], 5, **kwargs)
        assert target.calls == draft.calls == 0, "check the arguments before any model runs"

    def test_empty_prompt(self):
        draft, target = (CountingModel(m) for m in tiny_pair(0))
        with pytest.raises(ValueError, match="empty"):
            tree_speculative_generate(draft, target, [], 5)
        assert target.calls == draft.calls == 0, (
            f"{target.calls} target and {draft.calls} draft calls before the empty-prompt error: "
            "validate the prompt before any model runs"
        )

    def test_vocabularies_differ(self):
        target = CountingModel(tiny_llama(0))
        draft = CountingModel(tiny_llama(0, vocab_size=32))
        with pytest.raises(ValueError, match="vocab"):
            tree_speculative_generate(draft, target, [1, 2], 5)
        assert target.calls == draft.calls == 0, (
            f"{target.calls} target and {draft.calls} draft calls before the vocabulary error: "
            "compare the vocabularies before any model runs"
        )

    def test_untrimmable_target(self):
        draft, target = tiny_pair(0)
        target = CountingModel(untrimmable(target))
        with pytest.raises(ValueError, match="KVCache|trim"):
            tree_speculative_generate(draft, target, [1, 2], 5)
        assert target.calls == 0, (
            f"the target ran {target.calls} time(s) before the cache error: check the target "
            "(check_tree_model) before any forward pass"
        )
