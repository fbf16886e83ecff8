# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 1 Day 4: verification - accept, reject, correct.

Given K draft tokens, the draft's logits that produced them and the target's
logits from ONE forward pass over them, decide how many draft tokens to keep
and which token to emit next. With the rule of Leviathan et al. (2023) the
emitted tokens follow the target's distribution exactly, whatever the draft.
"""

from __future__ import annotations

import mlx.core as mx

from specdec.sampling import logits_to_probs, sample_from_probs

# The residual's mass sum(max(0, p - q)) equals the probability of the rejection
# that led to it. Below 1e-12 that rejection (practically) never happens and what
# is left is float32 rounding noise of p == q; normalising noise would amplify it,
# while drawing from p instead moves the output distribution by at most 1e-12.
_EMPTY_RESIDUAL = 1e-12


def verify_speculation(
    draft_tokens: list[int],
    target_logits: mx.array,
    draft_logits: mx.array,
    *,
    temperature: float = 0.0,
    key: mx.array | None = None,
) -> tuple[int, list[int]]:
    """Accept a prefix of the draft and emit one more token.

    Args:
        draft_tokens: the K proposed token ids ``d_1 .. d_K`` (``K >= 0``).
        target_logits: shape ``(K+1, V)``, any float dtype: the target's
            next-token logits from one pass over ``[c, d_1 .. d_K]`` where
            ``c`` is the last context token. Row ``i`` therefore scores
            ``d_{i+1}`` (row 0 sits on ``c``); row ``K`` scores the bonus
            position after ``d_K``.
        draft_logits: shape ``(K, V)``. Row ``i`` holds the draft's logits
            from which ``d_{i+1}`` was drawn.
        temperature: ``0`` = greedy: accept while the target's argmax equals
            the draft token. ``> 0``: accept ``d`` with probability
            ``min(1, p(d) / q(d))`` (``p``, ``q`` = target and draft softmax at
            this temperature, float32); on the first rejection emit a token
            drawn from ``max(0, p - q)`` normalised; after full acceptance
            emit a bonus token drawn from ``p`` at row K.
        key: MLX PRNG key for the random decisions (``None``: global RNG).

    Returns:
        ``(n, tokens)`` with ``n`` the number of accepted draft tokens and
        ``tokens == draft_tokens[:n] + [one more token]``, so
        ``len(tokens) == n + 1`` always.

    Raises:
        ValueError: if the shapes do not match ``K`` as described.
    """
    # TODO(W1D4): accept a prefix of the draft, emit one more token.
    #   1. Check both logits' shapes against K = len(draft_tokens) (ValueError naming them).
    #   2. T = 0: accept while the target's argmax equals the draft token; emit the argmax
    #      of the row where you stopped (row K after full acceptance: the bonus).
    #   3. T > 0: p, q = logits_to_probs of target and draft; split the key in two when
    #      one is given (key=None means MLX's global generator).
    #   4. Accept d_i while u * q(d_i) < p(d_i) and q(d_i) > 0; stop at the first rejection.
    #   5. Rejected at row n: draw from max(0, p - q) normalised (p itself if it is empty).
    #   6. All K accepted: draw the bonus token from p at row K.
    #   7. Return (n, draft_tokens[:n] + [token]) with Python ints.
    raise NotImplementedError(
        "Week 1 Day 4 task `verify_speculation` is not written yet: "
        "see book chapter week1-04-verify"
    )
