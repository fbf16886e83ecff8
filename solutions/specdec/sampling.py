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
    # BEGIN SOLUTION
    if (
        not isinstance(temperature, (int, float))
        or not math.isfinite(temperature)
        or temperature < 0
    ):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    x = logits.astype(mx.float32)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {logits.shape}")
    if x.size == 0:  # zero rows: nothing to normalise (MLX cannot reduce a zero-size array)
        return x
    if temperature == 0:
        vocab = x.shape[-1]
        return (mx.arange(vocab) == mx.argmax(x, axis=-1, keepdims=True)).astype(mx.float32)
    # Subtracting the row maximum before exp keeps every exponent <= 0, so
    # exp never overflows however large the logits or small the temperature.
    shifted = (x - mx.max(x, axis=-1, keepdims=True)) / temperature
    weights = mx.exp(shifted)
    return weights / mx.sum(weights, axis=-1, keepdims=True)
    # END SOLUTION


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
    # BEGIN SOLUTION
    if probs.ndim != 1:
        raise ValueError(f"probs must have shape (V,), got {probs.shape}")
    p = probs.astype(mx.float32)
    total = mx.sum(p).item()
    if not (total > 0 and math.isfinite(total)):
        raise ValueError(f"probs must have positive, finite total mass, got sum {total}")
    # Gumbel-max over log-probabilities: log(0) = -inf is never the argmax,
    # so impossible tokens can never be drawn.
    return int(mx.random.categorical(mx.log(p / total), key=key).item())
    # END SOLUTION


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
    # BEGIN SOLUTION
    if logits.ndim != 1:
        raise ValueError(f"logits must have shape (V,), got {logits.shape}")
    probs = logits_to_probs(logits, temperature)
    if temperature == 0:
        return int(mx.argmax(probs).item())
    return sample_from_probs(probs, key)
    # END SOLUTION
