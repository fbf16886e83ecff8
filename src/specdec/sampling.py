# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 1 Day 1: logits, temperature and sampling in MLX.

Speculative sampling compares the draft's and the target's *probabilities*
token by token, so everything later in the course is built on these three
functions: logits -> probabilities at a temperature, and reproducible draws.
"""

from __future__ import annotations

import math

import mlx.core as mx


def logits_to_probs(logits: mx.array, temperature: float = 1.0) -> mx.array:
    """Turn logits into next-token probabilities at a temperature.

    Args:
        logits: shape ``(..., V)``, any floating dtype (float32, float16,
            bfloat16); the last axis is the vocabulary.
        temperature: ``T >= 0``. ``T = 0`` means greedy decoding and returns a
            one-hot vector on the argmax (the first one on ties); ``T > 0``
            returns ``softmax(logits / T)``.

    Returns:
        float32 array of the same shape as ``logits``; each row sums to 1. The
        math is done in float32 whatever the input dtype, and stays finite for
        logits as large as ±1e4.

    Raises:
        ValueError: if ``temperature`` is negative or not a finite number, or the logits have
            no vocabulary axis (``V = 0``: no token to give probability to).
    """
    # TODO(W1D1): turn logits into float32 probabilities at temperature T.
    #   1. Refuse a negative, NaN or infinite temperature with a ValueError.
    #   2. Cast the logits to float32 before any arithmetic (bf16 keeps only ~2.4 digits).
    #   3. T = 0: a one-hot vector on the argmax of the last axis (greedy).
    #   4. T > 0: subtract the row maximum (no overflow), divide by T, exp, normalise.
    raise NotImplementedError(
        "Week 1 Day 1 task `logits_to_probs` is not written yet: see book chapter week1-01-sampling"
    )


def sample_from_probs(probs: mx.array, key: mx.array | None = None) -> int:
    """Draw one token id from a probability vector.

    Args:
        probs: shape ``(V,)``, non-negative, summing to a positive number (it
            is normalised here, so an unnormalised residual is fine). Tokens
            with probability 0 are never drawn.
        key: an MLX PRNG key from ``mx.random.key`` / ``mx.random.split``; the
            same key always gives the same token. ``None`` uses MLX's global
            generator (not reproducible).

    Returns:
        The sampled token id as a Python ``int`` in ``[0, V)``.

    Raises:
        ValueError: if ``probs`` is not 1-D, or has no positive mass or a NaN.
    """
    # TODO(W1D1): draw one token id from a probability vector.
    #   1. Check that probs is 1-D and that its total mass is positive and finite.
    #   2. Normalise and take the log: impossible tokens become -inf and are never drawn.
    #   3. Draw with mx.random.categorical and the key you were given; return a Python int.
    raise NotImplementedError(
        "Week 1 Day 1 task `sample_from_probs` is not written yet: "
        "see book chapter week1-01-sampling"
    )


def sample_token(logits: mx.array, temperature: float = 1.0, *, key: mx.array | None = None) -> int:
    """Pick the next token from one row of logits.

    Args:
        logits: shape ``(V,)``, any floating dtype.
        temperature: ``T = 0`` returns the argmax (the key is ignored);
            ``T > 0`` samples from ``softmax(logits / T)``.
        key: MLX PRNG key for reproducible sampling (see
            :func:`sample_from_probs`).

    Returns:
        The token id as a Python ``int``.

    Raises:
        ValueError: for a negative temperature or logits that are not 1-D.
    """
    # TODO(W1D1): pick the next token from one row of logits.
    #   1. Check that the logits are 1-D (ValueError).
    #   2. Turn them into probabilities with logits_to_probs at this temperature.
    #   3. T = 0: return the argmax as an int (no randomness, the key is ignored).
    #   4. T > 0: draw with sample_from_probs and the key.
    raise NotImplementedError(
        "Week 1 Day 1 task `sample_token` is not written yet: see book chapter week1-01-sampling"
    )
