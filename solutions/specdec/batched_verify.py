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
    # BEGIN SOLUTION
    if accept.shape[1] == 0:
        return mx.zeros((accept.shape[0],), dtype=mx.int32)
    return mx.sum(mx.cumprod(accept.astype(mx.int32), axis=1), axis=1).astype(mx.int32)
    # END SOLUTION


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
    # BEGIN SOLUTION
    if draft_tokens.ndim != 2:
        raise ValueError(f"draft_tokens must have shape (B, K), got {draft_tokens.shape}")
    batch, k = draft_tokens.shape
    if target_logits.ndim != 3 or target_logits.shape[:2] != (batch, k + 1):
        raise ValueError(
            f"target_logits must have shape (B, K+1, V) = ({batch}, {k + 1}, V) for drafts of "
            f"shape {draft_tokens.shape}, got {target_logits.shape}"
        )
    vocab = target_logits.shape[2]
    if draft_logits.shape != (batch, k, vocab):
        raise ValueError(
            f"draft_logits must have shape (B, K, V) = ({batch}, {k}, {vocab}), "
            f"got {draft_logits.shape}"
        )
    if num_draft is None:
        counts = mx.full((batch,), k, dtype=mx.int32)
    else:
        counts = mx.array(num_draft).astype(mx.int32).reshape(-1)
        if counts.shape != (batch,):
            raise ValueError(f"num_draft must have shape (B,) = ({batch},), got {counts.shape}")
        # A list is checked on the host; an array costs one device read (a sync).
        values = list(num_draft) if isinstance(num_draft, (list, tuple)) else counts.tolist()
        if batch and (min(values) < 0 or max(values) > k):
            raise ValueError(f"num_draft must be within [0, K={k}], got {counts.tolist()}")

    if batch == 0:  # no rows (MLX cannot argmax a zero-size array)
        return mx.zeros((0,), dtype=mx.int32), mx.zeros((0, k + 1), dtype=mx.int32)
    positions = mx.arange(k + 1)[None, :]
    live = positions[:, :k] < counts[:, None]
    rows = mx.arange(batch)
    drafts = draft_tokens.astype(mx.int32)

    if temperature == 0:
        choices = mx.argmax(target_logits, axis=-1).astype(mx.int32)
        n = accepted_lengths(live & (choices[:, :k] == drafts))
        extra = choices[rows, n]
    else:
        p = logits_to_probs(target_logits, temperature)
        q = logits_to_probs(draft_logits, temperature)
        if key is not None:
            accept_key, sample_key = mx.random.split(key)
        else:
            accept_key = sample_key = None
        p_x = mx.take_along_axis(p[:, :k], drafts[..., None], axis=-1)[..., 0]
        q_x = mx.take_along_axis(q, drafts[..., None], axis=-1)[..., 0]
        u = mx.random.uniform(shape=(batch, k), key=accept_key)
        # u < p/q written as u*q < p: no division, and q(x) = 0 rejects.
        n = accepted_lengths(live & (q_x > 0) & (u * q_x < p_x))
        # q beyond a row's last counted draft is 0, so there "residual" = p: the bonus.
        q_full = mx.concatenate([q, mx.zeros((batch, 1, vocab), dtype=q.dtype)], axis=1)
        q_full = mx.where((positions < counts[:, None])[..., None], q_full, 0.0)
        p_n, q_n = p[rows, n], q_full[rows, n]
        residual = mx.maximum(p_n - q_n, 0.0)
        empty = mx.sum(residual, axis=-1, keepdims=True) <= _EMPTY_RESIDUAL
        residual = mx.where(empty, p_n, residual)
        extra = mx.random.categorical(mx.log(residual), axis=-1, key=sample_key)
        extra = extra.astype(mx.int32)

    padded = mx.concatenate([drafts, mx.zeros((batch, 1), dtype=mx.int32)], axis=1)
    tokens = mx.where(positions < n[:, None], padded, PLACEHOLDER)
    tokens = mx.where(positions == n[:, None], extra[:, None], tokens)
    return n, tokens.astype(mx.int32)
    # END SOLUTION
