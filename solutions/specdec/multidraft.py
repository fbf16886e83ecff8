"""Week 4 Day 2 (second part): multi-draft speculation with sampled drafts.

The token tree of :mod:`specdec.trees` proposes the draft's *top* tokens, a deterministic
choice, and must then accept a candidate with ``p'(x)``. Here the draft *samples* ``N``
independent chains of length ``K`` from its own distribution ``q`` at the generation's
temperature (one shared prefix: the root), the target scores all of them in ONE tree pass
(:func:`specdec_course.api.trees.tree_forward`: a root with ``N`` chains), and the round
accepts with *recursive rejection sampling over the drafts* (SpecInfer's multi-step
speculative sampling, SpecTr's k-sequential rule): for the candidates in order, accept ``x``
with probability ``min(1, r(x) / q(x))``; on a rejection ``r <- norm(max(0, r - q))``; when
every candidate is rejected, draw from the last ``r``. The output follows the target's
distribution exactly, for any ``N``.

Tree layout (breadth-first, as in :mod:`specdec.trees`): node 0 is the root (the last
committed token); then depth 1 of every chain in draft order, then depth 2, ...; with ``N``
chains of length ``K`` node ``1 + d * N + j`` is chain ``j``'s token at depth ``d + 1``.
"""

from __future__ import annotations

from collections.abc import Iterable

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models.cache import make_prompt_cache

from specdec.lookup import ModelDrafter
from specdec.sampling import logits_to_probs, sample_from_probs
from specdec.trees import tree_mask_and_positions
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

# As in Week 1 Day 4: a residual with less mass than this is float rounding noise of a
# rejection that (practically) never happens; normalising it would amplify the noise.
_EMPTY_RESIDUAL = 1e-12


def draft_multi(
    drafter: Drafter,
    context: list[int],
    *,
    n_drafts: int,
    depth: int,
    key: mx.array | None = None,
) -> tuple[list[int], list[int], mx.array]:
    """Draw ``n_drafts`` independent draft chains after ``context``, as one tree.

    Each chain is one ``drafter.propose(context, depth, key=k_j)`` call with its own key
    ``k_j`` (``mx.random.split(key, n_drafts)``; all ``None`` for ``key=None``), so the
    chains are independent samples of the drafter's distribution (a ``ModelDrafter`` at
    ``T > 0`` samples every token from ``q``). Breadth-first layout::

        root = context[-1]          parents = [-1, 0, 0, 1, 2]     (n_drafts = 2, depth = 2)
          +-- a1 -- a2              tokens  = [root, a1, b1, a2, b2]
          +-- b1 -- b2

    Equal tokens in two chains stay two nodes: they are two draws, and the verification
    counts each one (see :func:`verify_multidraft`).

    Args:
        drafter: proposes ``(tokens, logits)`` (:class:`specdec_course.api.drafting.Drafter`).
        context: the tokens so far (``len >= 1``); the root is ``context[-1]``.
        n_drafts: ``N >= 1`` chains.
        depth: tokens asked per chain (``>= 0``; a drafter may propose fewer).
        key: PRNG key (``None``: MLX's global generator).

    Returns:
        ``(tokens, parents, draft_logits)``: ``M <= 1 + N * depth`` nodes; ``draft_logits``
        float32 ``(M, V)``, row ``i`` the logits node ``i``'s token was drawn from (row 0,
        the root, is zeros). With no drafted token it is ``(1, 0)``.
    """
    # TODO(W4D2): N proposals, laid out breadth-first under one root.
    #   1. Start with the root: tokens [context[-1]], parents [-1]; depth == 0 returns it
    #      (draft_logits mx.zeros((1, 0))) without calling the drafter.
    #   2. One key per chain: mx.random.split(key, n_drafts) (a list of None for key=None).
    #   3. Chain j = drafter.propose(context, depth, key=keys[j]): its tokens and rows.
    #   4. For each depth d, for each chain j that has a token at d: append it, its parent
    #      (chain j's node at d - 1; the root at d = 0) and its row.
    #   5. Stack the rows under a zero row for the root (float32 (M, V)).
    # BEGIN SOLUTION
    tokens, parents = [context[-1]], [-1]
    if depth == 0:
        return tokens, parents, mx.zeros((1, 0), dtype=mx.float32)
    keys = mx.random.split(key, n_drafts) if key is not None else [None] * n_drafts
    chains = [drafter.propose(context, depth, key=keys[j]) for j in range(n_drafts)]
    rows: list[mx.array] = []
    last = [0] * n_drafts  # each chain's newest node
    for d in range(max(len(chain) for chain, _ in chains)):
        for j, (chain, logits) in enumerate(chains):
            if d < len(chain):
                tokens.append(chain[d])
                parents.append(last[j])
                rows.append(logits[d].astype(mx.float32))
                last[j] = len(tokens) - 1
    if not rows:
        return tokens, parents, mx.zeros((1, 0), dtype=mx.float32)
    return tokens, parents, mx.concatenate([mx.zeros_like(rows[0])[None], mx.stack(rows)])
    # END SOLUTION


def _children(tokens: list[int], parents: list[int], rows: mx.array, what: str) -> list[list[int]]:
    """Given: check a one-root tree and its rows; each node's children in index order."""
    n = len(parents)
    bad = [i for i, p in enumerate(parents[1:], 1) if isinstance(p, bool) or not 0 <= p < i]
    if not parents or parents[0] != -1 or bad or len(tokens) != n:
        raise ValueError(
            f"the tree must have one root, node 0 (parents[0] == -1, 0 <= parents[i] < i "
            f"after it), and one token per node: got parents {parents} for {len(tokens)} tokens"
        )
    if rows.ndim != 2 or rows.shape[0] != n:
        raise ValueError(f"{what} must have shape (N, V) = ({n}, V), got {rows.shape}")
    children: list[list[int]] = [[] for _ in range(n)]
    for i in range(1, n):
        children[parents[i]].append(i)
    return children


def verify_multidraft(
    tokens: list[int],
    parents: list[int],
    draft_logits: mx.array,
    target_logits: mx.array,
    *,
    temperature: float = 0.0,
    key: mx.array | None = None,
) -> tuple[list[int], list[int]]:
    """Recursive rejection sampling over sampled drafts: lossless for any number of drafts.

    The walk keeps the *alive* nodes: those whose path spells the tokens accepted so far
    (at first the root alone). Their children, alive node by alive node and each one's
    children in index order, are the *candidates* of the next token. With the target's
    ``p`` at the last accepted node, ``r = p``, and for each candidate ``c`` with token ``x``:

    * ``T > 0``: accept when ``u[c] * q_c(x) < r(x)`` (probability ``min(1, r(x)/q_c(x))``,
      one uniform per node), where ``q_c = softmax(draft_logits[c] / T)`` is the
      distribution ``c`` was drawn from; rejected: ``r <- max(0, r - q_c)`` renormalised
      (kept as it is when its mass is below ``_EMPTY_RESIDUAL``), then the next candidate.
    * ``T = 0``: accept the first candidate whose token is the argmax of ``p``.

    After an acceptance the alive nodes are the accepted candidate and the *later*
    candidates with the same token (their chains share the accepted path; their own next
    tokens are fresh draws). When no candidate is accepted the round emits a token drawn
    from ``r`` (``T = 0``: the argmax) and ends; a candidate-free node (the end of the
    chains) emits from ``p``, the bonus token.

    Args:
        tokens, parents: the tree (node 0 the only root, ``0 <= parents[i] < i``).
        draft_logits: ``(N, V)``, row ``i`` the draft logits node ``i`` was drawn from at
            ``temperature`` (row 0 is not read).
        target_logits: ``(N, V)``, any float dtype: row ``i`` the target's next-token logits
            after node ``i``'s path (one :func:`tree_forward` pass).
        temperature: ``0`` = greedy; ``> 0`` samples from the target exactly.
        key: PRNG key (``None``: MLX's global generator).

    Returns:
        ``(path, emitted)``: ``path`` the root-to-node path (root excluded) of the last
        accepted node, ``emitted`` its tokens plus one more (``len(path) + 1`` ints).

    Raises:
        ValueError: for a tree without the single root 0, logits not of shape ``(N, V)``,
            or draft and target rows of different widths.
    """
    # TODO(W4D2): the walk with alive nodes and one residual per depth.
    #   1. Children lists (_children) for both logits; for N > 1 the two widths V must be
    #      equal (ValueError naming the vocabularies).
    #   2. T = 0: argmax of every target row (one .tolist()). T > 0: p and q with
    #      logits_to_probs (as float64 numpy arrays), split the key (uniforms / final draw),
    #      one uniform per node (one .tolist()).
    #   3. alive = [0], node = 0. Loop: candidates = the children of every alive node, in
    #      order; residual r = p[node].
    #   4.   For each candidate c (token x): accept when u[c] * q[c, x] < r[x] (T = 0: when
    #        x is the argmax of node); else r = max(0, r - q[c]), renormalised unless its
    #        mass is below _EMPTY_RESIDUAL.
    #   5.   Accepted: node = c; alive = [c] + the later candidates with token x. None:
    #        emit the tokens of node's root-to-node path and a draw from r (T = 0: argmax).
    # BEGIN SOLUTION
    children = _children(tokens, parents, target_logits, "target_logits")
    _children(tokens, parents, draft_logits, "draft_logits")
    n = len(tokens)
    if n > 1 and draft_logits.shape[1] != target_logits.shape[1]:
        raise ValueError(
            f"draft and target vocabularies differ: draft rows have {draft_logits.shape[1]} "
            f"entries, target rows {target_logits.shape[1]}; both must score the same tokens"
        )
    greedy = temperature == 0
    if greedy:
        choices = mx.argmax(target_logits, axis=-1).tolist()
    else:
        p = np.array(logits_to_probs(target_logits, temperature), dtype=np.float64)
        # A root alone has no draft rows to read (its draft_logits may be (1, 0)).
        q = np.array(logits_to_probs(draft_logits, temperature), dtype=np.float64) if n > 1 else p
        uniform_key, sample_key = mx.random.split(key) if key is not None else (None, None)
        uniforms = mx.random.uniform(shape=(n,), key=uniform_key).tolist()
    alive, node = [0], 0
    while True:
        candidates = [c for a in alive for c in children[a]]
        residual = None if greedy else p[node]
        accepted = None
        for i, c in enumerate(candidates):
            x = tokens[c]
            if greedy:
                if x == choices[node]:
                    accepted = i
                    break
                continue
            if uniforms[c] * q[c, x] < residual[x]:
                accepted = i
                break
            # Rejected: the next candidate is a fresh draw from q, judged against what is
            # left of the target's mass once this draw's share is taken out.
            kept = np.maximum(residual - q[c], 0.0)
            mass = kept.sum()
            residual = kept / mass if mass > _EMPTY_RESIDUAL else residual
        if accepted is None:
            if greedy:
                last = choices[node]
            else:
                last = sample_from_probs(mx.array(residual, dtype=mx.float32), sample_key)
            path = []
            while node > 0:
                path.append(node)
                node = parents[node]
            return path[::-1], [tokens[i] for i in path[::-1]] + [last]
        node = candidates[accepted]
        alive = [node] + [c for c in candidates[accepted + 1 :] if tokens[c] == tokens[node]]
    # END SOLUTION


def multidraft_generate(
    draft_model: nn.Module,
    target_model: nn.Module,
    prompt_tokens: mx.array | list[int],
    max_tokens: int,
    *,
    n_drafts: int = 2,
    depth: int = 3,
    temperature: float = 0.0,
    eos_token_id: int | Iterable[int] | None = None,
    key: mx.array | None = None,
) -> GenerationResult:
    """Speculative decoding with ``n_drafts`` sampled drafts verified in one target pass.

    Each round draws the chains with :func:`draft_multi` (a ``ModelDrafter`` at
    ``temperature``), scores the tree with ONE :func:`tree_forward` call, keeps what
    :func:`verify_multidraft` accepts plus one more token, and keeps that path in the target
    cache (:func:`keep_path`). At ``T = 0`` every draft would be the draft's argmax chain,
    so one chain is drawn (the round is Week 1's at ``K = depth``). The depth is capped so
    a round never passes ``max_tokens``; an EOS ends generation (kept in the output).

    Args:
        draft_model, target_model: mlx-lm style models sharing a vocabulary; the target
            must run a tree (:func:`specdec_course.api.trees.check_tree_model`).
        prompt_tokens: int ``mx.array`` ``(L,)``, ``L >= 1``, or a list.
        max_tokens: the most tokens to generate (``>= 0``).
        n_drafts: ``N >= 1`` chains per round (verify width ``1 + N * depth``).
        depth: tokens per chain (``>= 0``; 0 = plain target decoding).
        temperature: 0 = greedy; ``> 0`` samples the target's distribution exactly.
        eos_token_id: an id or ids that end generation.
        key: PRNG key, split every round.

    Returns:
        A :class:`GenerationResult`; a round records its drafted nodes and the accepted
        path's length.

    Raises:
        TypeError / ValueError: bad prompt, counts (``n_drafts < 1``, ``depth < 0``),
            temperature, different vocabularies, an untrimmable draft cache or a target
            that cannot run a tree - all before any model runs.
    """
    # TODO(W4D2): tree_speculative_generate's loop with sampled chains.
    #   1. Validate everything as there (n_drafts >= 1 instead of branch); a
    #      ModelDrafter(draft_model, temperature=temperature); at T = 0 draw one chain.
    #   2. max_tokens == 0 runs nothing; prefill the target with the prompt minus its last token.
    #   3. Each round: d = min(depth, max_tokens - emitted - 1); split the key three ways
    #      (next round / drafts / verify); draft_multi; tree_mask_and_positions; ONE
    #      tree_forward; verify_multidraft; record_round(M - 1, len(path)).
    #   4. Cut after an EOS, extend context and result, stop at EOS; else keep_path(cache,
    #      prefix length before the round, [0, *path]). draft_calls from the drafter.
    # BEGIN SOLUTION
    context = token_list(prompt_tokens)
    check_count(max_tokens, "max_tokens")
    if check_count(n_drafts, "n_drafts") < 1:
        raise ValueError("n_drafts must be >= 1 (1 = a single sampled chain, as in Week 1)")
    check_count(depth, "depth")
    temperature = check_temperature(temperature)
    stop = eos_ids(eos_token_id)
    check_same_vocab(draft_model, target_model)
    check_trimmable(draft_model, "draft")
    check_tree_model(target_model, "target")
    drafter = ModelDrafter(draft_model, temperature=temperature)
    chains = 1 if temperature == 0 else n_drafts
    result = GenerationResult()
    if max_tokens == 0:
        return result
    cache = make_prompt_cache(target_model)
    if len(context) > 1:
        target_model(mx.array(context[:-1])[None], cache=cache)
        result.target_calls += 1

    while len(result.tokens) < max_tokens:
        d = min(depth, max_tokens - len(result.tokens) - 1)
        key, draft_key = split_key(key)
        key, verify_key = split_key(key)
        tokens, parents, rows = draft_multi(
            drafter, context, n_drafts=chains, depth=d, key=draft_key
        )
        mask, depths = tree_mask_and_positions(parents)
        prefix = len(context) - 1
        logits = tree_forward(target_model, tokens, cache, mask, depths)
        result.target_calls += 1
        path, emitted = verify_multidraft(
            tokens, parents, rows, logits, temperature=temperature, key=verify_key
        )
        result.record_round(len(tokens) - 1, len(path))
        for i, token in enumerate(emitted):
            if token in stop:
                emitted = emitted[: i + 1]
                result.finish_reason = "eos"
                break
        context.extend(emitted)
        result.tokens.extend(emitted)
        if result.finish_reason == "eos":
            break
        keep_path(cache, prefix, [0, *path])
    result.draft_calls = drafter.draft_calls
    return result
    # END SOLUTION
