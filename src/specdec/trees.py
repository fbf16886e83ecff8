# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 4 Day 2: token trees - many drafts, one verify pass.

A single draft is only as good as its first mistake: everything after the first rejected
token is thrown away. A *token tree* gives the target second chances: at every depth the
draft proposes its best token, which the chain continues from, and its next best tokens
as siblings. The target scores the whole tree in ONE forward pass (a tree attention mask
and positions by depth, :mod:`specdec_course.api.trees`), and the round keeps the longest
root-to-node path the target agrees with.

Tree layout used throughout: node 0 is the *root*, the last committed token (the one the
Week 1 loop feeds first); every other node ``i`` has a parent ``parents[i] < i``; the nodes
are in breadth-first order, so the nodes of one depth are contiguous. The target cache holds
the context minus its last token before a round, exactly as in Week 1.

Sampling stays lossless with recursive rejection sampling over the siblings (SpecInfer's
multi-step speculative sampling with one-hot proposals): walk a node's children in order,
accept child ``x`` with probability ``p'(x)``, where ``p'`` is the target's distribution
with the mass of the siblings already rejected removed and renormalised; descend into an
accepted child; when every child is rejected, draw from the final ``p'``.
"""

from __future__ import annotations

from collections.abc import Iterable

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import make_prompt_cache

from specdec.lookup import ModelDrafter
from specdec.sampling import logits_to_probs, sample_from_probs
from specdec_course.api.drafting import Drafter
from specdec_course.api.keys import split_key
from specdec_course.api.results import GenerationResult
from specdec_course.api.trees import check_tree_model, keep_path, tree_forward
from specdec_course.api.validation import (
    check_count,
    check_same_vocab,
    check_temperature,
    check_trimmable,
    eos_ids,
    token_list,
)

# As in Week 1 Day 4: a residual with less mass than this is float32 rounding noise of a
# rejection that (practically) never happens; normalising it would amplify the noise.
_EMPTY_RESIDUAL = 1e-12


# Given: the tree's shape rules, shared by tree_mask_and_positions and verify_tree.
def _check_parents(parents: list[int]) -> None:
    if not parents:
        raise ValueError("a tree needs at least one node (parents is empty)")
    for i, parent in enumerate(parents):
        if isinstance(parent, bool) or not isinstance(parent, int) or not -1 <= parent < i:
            raise ValueError(
                f"parents[{i}] = {parent!r}: every node's parent must be an earlier node "
                "(0 <= parents[i] < i) or -1 for a root (a child of the committed prefix)"
            )


def tree_mask_and_positions(parents: list[int]) -> tuple[mx.array, mx.array]:
    """The attention mask and the depths of a token tree.

    Node ``i`` may attend to itself and to every ancestor (its parent, its parent's parent,
    ... up to a root), never to a sibling, a cousin or a descendant. Its depth is the number
    of ancestors: roots (``parents[i] == -1``, the children of the committed prefix) have
    depth 0, so node ``i`` sits at position ``prefix + depth[i]``.

    Example: ``parents = [-1, 0, 0, 2, 2]`` (a root with two children, the second of which
    has two children) gives depths ``[0, 1, 1, 2, 2]`` and mask rows ``[1 0 0 0 0]``,
    ``[1 1 0 0 0]``, ``[1 0 1 0 0]``, ``[1 0 1 1 0]``, ``[1 0 1 0 1]``.

    Args:
        parents: ``N >= 1`` ints, ``parents[i]`` in ``[-1, i)``.

    Returns:
        ``(mask, depths)``: bool ``(N, N)`` with ``mask[i, j]`` True when ``j`` is ``i`` or
        an ancestor of ``i``; int32 ``(N,)``.

    Raises:
        ValueError: for an empty list or a parent that is not an earlier node or -1.
    """
    # TODO(W4D2): the ancestor closure and the depths, in one pass over the nodes.
    #   1. Check the parents (_check_parents).
    #   2. Row i of the mask is row parents[i] of the mask (its ancestors), plus i itself;
    #      a root's row has only i. Parents come first, so their rows are ready when needed.
    #   3. depth[i] = depth[parents[i]] + 1, and 0 for a root.
    #   4. Return the mask as a bool mx.array (N, N) and the depths as int32 (N,).
    raise NotImplementedError(
        "Week 4 Day 2 task `tree_mask_and_positions` is not written yet: "
        "see book chapter week4-02-token-trees"
    )


def draft_tree(
    drafter: Drafter, context: list[int], *, branch: int, depth: int
) -> tuple[list[int], list[int]]:
    """Draft a tree: the draft's best chain, and its runners-up at every depth as leaves.

    The drafter proposes a chain of ``depth`` tokens after ``context`` (a ``ModelDrafter``
    at temperature 0: each the draft's argmax). Every proposal row already holds the draft's
    whole next-token distribution, so the ``branch - 1`` next best tokens at each depth cost
    no draft pass: they become siblings of that chain token, leaves of the tree::

        root = context[-1]
          +-- d1 (best) --+-- d2 (best) --+-- d3 (best)
          +-- a1           +-- a2           +-- a3          (branch = 2, depth = 3)

    Breadth-first order: the root, then per depth the chain token followed by its siblings
    in the draft's order of preference. ``branch = 1`` is Week 1's single chain.

    Args:
        drafter: proposes ``(tokens, logits)`` as in :class:`specdec_course.api.drafting.Drafter`.
        context: the tokens so far (``len >= 1``); the root is ``context[-1]``.
        branch: tokens per depth (``>= 1``): the chain token and ``branch - 1`` siblings.
        depth: chain length asked of the drafter (``>= 0``; it may propose fewer).

    Returns:
        ``(tokens, parents)``: ``1 + branch * len(chain)`` nodes at most (fewer when the
        vocabulary is smaller than ``branch``); ``parents[0] == -1``.
    """
    # TODO(W4D2): the chain from the drafter, its runners-up as siblings.
    #   1. Start the tree with the root: tokens [context[-1]], parents [-1].
    #   2. depth == 0: return it without calling the drafter.
    #   3. chain, rows = drafter.propose(context, depth): chain[d] was chosen from rows[d].
    #   4. Rank each row's tokens best first (one mx.argsort over all rows, then .tolist()).
    #   5. For each depth: append the chain token (parent: the previous chain node, the root
    #      at depth 0), then the best ranked tokens other than it until the depth has
    #      `branch` nodes, all with the same parent.
    raise NotImplementedError(
        "Week 4 Day 2 task `draft_tree` is not written yet: see book chapter week4-02-token-trees"
    )


def verify_tree(
    tokens: list[int],
    parents: list[int],
    target_logits: mx.array,
    *,
    temperature: float = 0.0,
    key: mx.array | None = None,
) -> tuple[list[int], list[int]]:
    """Accept the longest path the target agrees with, and emit one more token.

    Args:
        tokens: the ``N`` node tokens; node 0 is the root (the last committed token).
        parents: ``parents[0] == -1``, ``0 <= parents[i] < i`` for every other node.
        target_logits: ``(N, V)``, any float dtype: row ``i`` is the target's next-token
            logits after the path to node ``i`` (one :func:`tree_forward` pass).
        temperature: ``0`` = greedy: from the root, move to the child whose token is the
            target's argmax at the current node (the first such child), while there is
            one; emit the argmax where you stop. ``> 0``: recursive rejection sampling:
            ``p'`` = softmax of the current node's row; for each child in order accept it
            with probability ``p'(token)`` (one uniform per node); on a rejection set
            ``p'(token) = 0`` and renormalise; descend into an accepted child
            (``p'`` = its row); when no child is accepted emit a token drawn from ``p'``.
        key: PRNG key (``None``: MLX's global generator).

    Returns:
        ``(path, emitted)``: ``path`` the accepted node indices from depth 1 down (root
        excluded), ``emitted`` their tokens plus one more token (``len(path) + 1`` ints).

    Raises:
        ValueError: for a root that is not node 0 alone, or logits not of shape ``(N, V)``.
    """
    # TODO(W4D2): walk down the tree from the root.
    #   1. Check the parents (_check_parents) and that node 0 is the only root; check the
    #      logits' shape (N, V); list every node's children in index order.
    #   2. T = 0: argmax of every row (one .tolist()); from the root, move to the first child
    #      whose token is the argmax of the current node; stop when none is; emit the path's
    #      tokens and the argmax of the node where you stopped.
    #   3. T > 0: p = logits_to_probs (W1D1); split the key in two (uniforms / final draw);
    #      one uniform per node (one .tolist()).
    #   4.   At the current node, residual = p[node]. For each child: accept when
    #        u[child] < residual[token]; else zero the token in the residual and renormalise
    #        (keep the residual if its mass is below _EMPTY_RESIDUAL).
    #   5.   Accepted: append the child to the path and continue from it. None accepted:
    #        emit the path's tokens and sample_from_probs(residual).
    raise NotImplementedError(
        "Week 4 Day 2 task `verify_tree` is not written yet: see book chapter week4-02-token-trees"
    )


def tree_speculative_generate(
    draft_model: nn.Module,
    target_model: nn.Module,
    prompt_tokens: mx.array | list[int],
    max_tokens: int,
    *,
    branch: int = 2,
    depth: int = 3,
    temperature: float = 0.0,
    eos_token_id: int | Iterable[int] | None = None,
    key: mx.array | None = None,
) -> GenerationResult:
    """Speculative decoding with a token tree: one draft chain, one target pass per round.

    Each round drafts a tree with :func:`draft_tree` (a ``ModelDrafter`` at temperature 0:
    the chain is the draft's best guesses), scores it with ONE target call
    (:func:`specdec_course.api.trees.tree_forward` with your mask and depths), keeps the
    path :func:`verify_tree` accepts plus one more token, and rewinds the target cache to
    that path (:func:`specdec_course.api.trees.keep_path`). The draft cache is rewound by
    the drafter itself next round: it trims to the longest prefix that agrees with the
    context and re-feeds the rest (one pass). The verify width is ``1 + branch * depth``;
    ``branch = 1`` is the Week 1 loop at ``K = depth``. The depth is capped so a round
    never passes ``max_tokens``; an EOS ends generation (kept in the output).

    Args:
        draft_model, target_model: mlx-lm style models sharing a vocabulary; the target's
            cache must be plain ``KVCache`` layers and its attention use RoPE.
        prompt_tokens: int ``mx.array`` ``(L,)``, ``L >= 1``, or a list.
        max_tokens: the most tokens to generate (``>= 0``).
        branch: tokens per depth (``>= 1``).
        depth: chain length per round (``>= 0``; 0 = plain target decoding).
        temperature: 0 = greedy, ``> 0`` samples from the target's distribution exactly.
        eos_token_id: an id or ids that end generation.
        key: PRNG key, split every round.

    Returns:
        A :class:`GenerationResult`; a round records ``N - 1`` drafted nodes and the
        accepted path's length.

    Raises:
        TypeError / ValueError: bad prompt, counts (``branch < 1``, ``depth < 0``),
            temperature, different vocabularies, an untrimmable draft cache or a target
            that cannot run a tree - all before any model runs.
    """
    # TODO(W4D2): the Week 1 loop with a tree.
    #   1. Validate everything (token_list, check_count, branch >= 1, check_temperature,
    #      eos_ids, check_same_vocab, check_trimmable for the draft, check_tree_model for
    #      the target); a ModelDrafter(draft_model) at temperature 0.
    #   2. max_tokens == 0 runs nothing; prefill the target with the prompt minus its last token.
    #   3. Each round: d = min(depth, max_tokens - emitted - 1); split the key; draft_tree;
    #      tree_mask_and_positions; ONE tree_forward; verify_tree; record_round(N - 1, len(path)).
    #   4. Cut after an EOS, extend context and result, stop at EOS; else keep_path(cache,
    #      prefix length before the round, [0, *path]).
    #   5. result.draft_calls = the drafter's draft_calls.
    raise NotImplementedError(
        "Week 4 Day 2 task `tree_speculative_generate` is not written yet: "
        "see book chapter week4-02-token-trees"
    )
