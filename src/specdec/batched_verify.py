# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 3 Day 2: batched verification.

The Week 1 verifier walks one row's draft in Python. For a batch, every row
accepts a different number of draft tokens, so the answer is a matrix: row
``b`` of the output holds its accepted draft tokens, then one target token,
then a placeholder ``-1`` in every position that row does not emit (vLLM's
rejection sampler uses the same layout). Everything is computed for all rows
at once with array operations; per row the result follows exactly the rule of
:func:`specdec.verify.verify_speculation`.
"""

from __future__ import annotations

import mlx.core as mx

from specdec.sampling import logits_to_probs

#: The output value for positions a row does not emit.
PLACEHOLDER = -1

# As in specdec.verify: a residual with less mass than this is float32 noise
# of p == q (its rejection practically never happens); draw from p instead.
_EMPTY_RESIDUAL = 1e-12


def accepted_lengths(accept: mx.array) -> mx.array:
    """How many leading ``True`` values each row has.

    Args:
        accept: bool ``(B, K)``: whether each draft position passed its test.

    Returns:
        int32 ``(B,)``: the index of each row's first ``False`` (``K`` when
        the row is all ``True``). Positions after a rejection do not count
        even when they passed: a draft token is only kept if every token
        before it was.
    """
    # TODO(W3D2): the length of each row's all-True prefix, without a Python loop.
    #   1. A running product (mx.cumprod) along K stays 1 exactly while every test so far passed.
    #   2. Its row sums are the accepted counts; return them as int32 (K = 0 gives zeros).
    raise NotImplementedError(
        "Week 3 Day 2 task `accepted_lengths` is not written yet: "
        "see book chapter week3-02-batched-verify"
    )


def batched_verify(
    draft_tokens: mx.array,
    target_logits: mx.array,
    draft_logits: mx.array,
    *,
    num_draft: mx.array | list[int] | None = None,
    temperature: float = 0.0,
    key: mx.array | None = None,
) -> tuple[mx.array, mx.array]:
    """Verify every row's draft at once.

    Args:
        draft_tokens: int ``(B, K)``: row ``b`` proposes ``d_1 .. d_K``.
        target_logits: ``(B, K+1, V)``, any float dtype: row ``b``'s logits
            from one pass over ``[c_b, d_1 .. d_K]`` (position ``i`` scores
            ``d_{i+1}``; position ``K`` the bonus).
        draft_logits: ``(B, K, V)``: the logits each draft token was drawn from.
        num_draft: int ``(B,)`` with ``0 <= num_draft[b] <= K``: how many of
            row ``b``'s drafts count (a row near its budget drafts fewer).
            Positions from ``num_draft[b]`` on are ignored as if they did not
            exist, so the bonus of such a row comes from position
            ``num_draft[b]``. ``None`` means ``K`` for every row.
        temperature: 0 = greedy (accept while the target's argmax equals the
            draft, then emit the target's argmax). ``> 0`` = Leviathan et al.:
            accept ``d`` with probability ``min(1, p(d) / q(d))``; at the first
            rejection draw from ``max(0, p - q)`` normalised; after full
            acceptance draw the bonus from ``p``.
        key: MLX PRNG key for all rows' random decisions (``None``: global RNG).

    Returns:
        ``(accepted, tokens)``: int32 ``accepted`` of shape ``(B,)`` (``n_b``
        draft tokens kept) and int32 ``tokens`` of shape ``(B, K+1)`` where
        ``tokens[b, :n_b] == draft_tokens[b, :n_b]``, ``tokens[b, n_b]`` is
        the target's token and every later entry is :data:`PLACEHOLDER`.
        Per row this is what ``verify_speculation`` returns for that row's
        ``num_draft[b]`` drafts.

    Raises:
        ValueError: when the shapes do not agree on ``B``, ``K`` and ``V``,
            or ``num_draft`` is out of range.
    """
    # TODO(W3D2): a vectorised verify_speculation with per-row draft counts.
    #   1. Check shapes: draft (B, K), target (B, K+1, V), draft logits (B, K, V); num_draft
    #      (B,) within [0, K] (None = K). Clear ValueErrors.
    #   2. live[b, i] = i < num_draft[b]: positions beyond a row's count never pass.
    #   3. T = 0: pass where argmax(target)[:, :K] equals the draft; n = accepted_lengths;
    #      the extra token is the target's argmax at position n (gather per row).
    #   4. T > 0: p, q from logits_to_probs; split the key; u ~ U(0,1) of shape (B, K);
    #      pass where q(d) > 0 and u * q(d) < p(d); n = accepted_lengths.
    #   5. The extra token: draw from max(0, p[n] - q[n]) with q taken as 0 at positions >= the
    #      row's count (so a fully accepted row draws the bonus from p); an empty residual
    #      falls back to p[n]. One categorical over (B, V) log-weights.
    #   6. tokens[b, i] = draft for i < n, the extra token at i == n, PLACEHOLDER after.
    raise NotImplementedError(
        "Week 3 Day 2 task `batched_verify` is not written yet: "
        "see book chapter week3-02-batched-verify"
    )
