"""Hidden tests, Week 4 Day 2 (instructor-only).

What the public tests do not show: a forest (several roots, as the docstring allows), sampling
with the default key, a prompt given as an mx.array, and max_tokens == 0; for the multi-draft
task the same two, and chains of unequal length (a drafter may propose fewer tokens).
"""

import mlx.core as mx
import numpy as np
import pytest

from specdec.trees import tree_mask_and_positions, tree_speculative_generate
from specdec_course.testing import CountingModel, MarkovModel, random_markov, tiny_pair
from tests.w1_helpers import mlx_lm_greedy

pytestmark = [pytest.mark.w4d2, pytest.mark.timeout(60)]


def test_a_forest_of_two_roots():
    # Bug caught: node 0 taken as the only root (a second root hung under it, or refused).
    mask, depths = tree_mask_and_positions([-1, -1, 0, 1, 3])
    want = [
        [1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [1, 0, 1, 0, 0],
        [0, 1, 0, 1, 0],
        [0, 1, 0, 1, 1],
    ]
    got = np.array(mask).astype(int).tolist()
    assert got == want, (
        f"mask {got}, want {want}: every -1 is a root (a child of the committed prefix); two "
        "roots never see each other"
    )
    assert depths.tolist() == [0, 0, 1, 1, 2], f"depths {depths.tolist()}: both roots are at 0"


def test_sampling_with_the_default_key():
    # Bug caught: mx.random.split(key) with key=None at T > 0.
    target = MarkovModel(random_markov(6, seed=1, concentration=2.0))
    draft = MarkovModel(random_markov(6, seed=2, concentration=2.0))
    mx.random.seed(3)
    result = tree_speculative_generate(draft, target, [1, 2], 10, temperature=1.0)
    assert len(result.tokens) == 10, f"want 10 sampled tokens with key=None, got {result.tokens}"


def test_prompt_as_an_mx_array():
    # Bug caught: the prompt not turned into a list of ints (token_list): mx scalars in the tree.
    draft, target = tiny_pair(7)
    want = mlx_lm_greedy(target, [5, 9, 2], 12)
    got = tree_speculative_generate(draft, target, mx.array([5, 9, 2]), 12, branch=2, depth=2)
    assert got.tokens == want and all(type(t) is int for t in got.tokens), (
        f"an int mx.array prompt must work like a list; got {got.tokens}, want {want}"
    )


def test_zero_tokens_and_depth_zero():
    # Bug caught: the target prefilled (or the draft run) before max_tokens == 0 returns.
    draft, target = (CountingModel(m) for m in tiny_pair(4))
    result = tree_speculative_generate(draft, target, [3, 4], 0)
    assert result.tokens == [] and target.calls == draft.calls == 0, (
        f"max_tokens=0 must run no model (target {target.calls}, draft {draft.calls} calls)"
    )
    plain = tree_speculative_generate(draft, target, [3], 8, branch=3, depth=0)
    assert plain.tokens == mlx_lm_greedy(target.wrapped, [3], 8) and draft.calls == 0, (
        "depth=0 is plain target decoding: one node (the root) per round, no draft pass"
    )
    assert plain.target_calls == 8, (
        f"depth=0, 8 tokens after a one-token prompt: expected 8 target calls (nothing to "
        f"prefill, one call per token), got {plain.target_calls}"
    )
    assert plain.drafted_per_round == [0] * 8, (
        f"drafted_per_round={plain.drafted_per_round}: with depth=0 each round is the root "
        "alone: record_round(0, 0) once per target call"
    )


# ---- multi-draft speculation (specdec.multidraft) -----------------------------------------


def test_multidraft_with_the_default_key_and_an_array_prompt():
    # Bugs caught: mx.random.split(None) for the drafts' or the walk's key at T > 0; the
    # prompt kept as an mx.array (mx scalars in the tree).
    from specdec.multidraft import multidraft_generate

    target = MarkovModel(random_markov(6, seed=1, concentration=2.0))
    draft = MarkovModel(random_markov(6, seed=2, concentration=2.0))
    mx.random.seed(3)
    result = multidraft_generate(
        draft, target, mx.array([1, 2]), 10, n_drafts=3, depth=2, temperature=1.0
    )
    assert len(result.tokens) == 10 and all(type(t) is int for t in result.tokens), (
        f"want 10 sampled int tokens with key=None and an mx.array prompt, got {result.tokens}"
    )


def test_multidraft_unequal_chains_and_zero_tokens():
    # Bugs caught: a drafter that proposes fewer tokens for one chain breaks the layout (every
    # chain assumed `depth` long); max_tokens == 0 still runs a model.
    from specdec.multidraft import draft_multi, multidraft_generate

    class Uneven:
        draft_calls, calls = 0, 0

        def reset(self):
            pass

        def propose(self, context, k, *, key=None):
            Uneven.calls += 1
            chain = [[1, 2, 3], [4], [5, 6]][Uneven.calls - 1][:k]
            return chain, mx.zeros((len(chain), 8))

    tokens, parents, rows = draft_multi(Uneven(), [0], n_drafts=3, depth=3)
    assert (tokens, parents) == ([0, 1, 4, 5, 2, 6, 3], [-1, 0, 0, 0, 1, 3, 4]), (
        f"got tokens {tokens}, parents {parents}: chains of 3, 1 and 2 tokens, breadth-first; "
        "a chain with no token at a depth adds no node there"
    )
    assert rows.shape == (7, 8), f"one draft row per node, got {rows.shape}"
    draft, target = (CountingModel(m) for m in tiny_pair(4))
    result = multidraft_generate(draft, target, [3, 4], 0, temperature=1.0)
    assert result.tokens == [] and target.calls == draft.calls == 0, (
        f"max_tokens=0 must run no model (target {target.calls}, draft {draft.calls} calls)"
    )
