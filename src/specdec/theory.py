# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 2 Day 1: how fast can speculative decoding be?

Before timing anything we predict. If every draft token is accepted
independently with probability alpha, one round of K draft tokens emits
``E(alpha, K) = (1 - alpha^(K+1)) / (1 - alpha)`` tokens on average, and costs
``K * c + v`` target-step equivalents (K draft steps of relative cost ``c``
plus one verification pass of relative cost ``v``). Everything here follows
from those two lines: the speedup, the best K, and the acceptance rate below
which speculating loses time.

All functions take plain Python numbers and return Python floats or ints.
"""

from __future__ import annotations

import math
import numbers

import mlx.core as mx
import numpy as np

# Probability vectors from float32 models sum to 1 only up to rounding.
PROB_SUM_TOLERANCE = 1e-4


# Given to students (kept in the stub): argument checks that raise a TypeError or
# ValueError naming the argument, so the day's work is the theory, not validation.
def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(
            f"alpha must be a real number in [0, 1], got {type(alpha).__name__} {alpha!r}"
        )
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:  # also rejects NaN
        raise ValueError(f"alpha (the per-token acceptance rate) must be in [0, 1], got {alpha!r}")
    return alpha


def _check_k(k: int, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} (the lookahead K) must be an int, got {type(k).__name__} {k!r}")
    if k < 0:
        raise ValueError(f"{name} (the lookahead K) must be >= 0, got {k}")
    return int(k)


def _check_cost(value: float, name: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


def expected_tokens_per_round(alpha: float, k: int) -> float:
    """Expected number of tokens one speculative round emits.

    With per-token acceptance probability ``alpha`` the round keeps the first
    ``i`` draft tokens with probability ``alpha^i`` and always emits one more
    token (the correction after a rejection, or the bonus token after full
    acceptance)::

        E(alpha, K) = 1 + alpha + ... + alpha^K = (1 - alpha^(K+1)) / (1 - alpha)

    Args:
        alpha: per-token acceptance probability in ``[0, 1]``.
        k: lookahead ``K >= 0`` (number of draft tokens per round).

    Returns:
        ``E(alpha, K)`` as a float in ``[1, K + 1]``; exactly ``K + 1`` at
        ``alpha = 1`` and continuous there (no ``0 / 0`` near 1:
        ``E(1 - 1e-12, 4)`` is ``5 - 1e-11`` to full precision).

    Raises:
        TypeError: if ``k`` is not an int or ``alpha`` not a real number.
        ValueError: if ``alpha`` is outside ``[0, 1]`` (or NaN) or ``k < 0``.
    """
    # TODO(W2D1): E(alpha, K) = 1 + alpha + ... + alpha^K.
    #   1. Validate alpha and K with the checks above.
    #   2. alpha = 0 or K = 0 gives 1; alpha = 1 gives K + 1.
    #   3. Otherwise the closed form, with alpha^(K+1) - 1 from expm1/log1p so that
    #      alpha close to 1 loses no precision.
    raise NotImplementedError(
        "Week 2 Day 1 task `expected_tokens_per_round` is not written yet: "
        "see book chapter week2-01-theory"
    )


def _as_probs(x: mx.array | np.ndarray, name: str) -> np.ndarray:
    if isinstance(x, mx.array):
        x = np.array(x.astype(mx.float32))
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty probability vector of shape (V,), got shape {arr.shape}"
        )
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    total = float(arr.sum())
    if abs(total - 1.0) > PROB_SUM_TOLERANCE:
        raise ValueError(
            f"{name} must sum to 1 (within {PROB_SUM_TOLERANCE:g}), it sums to {total:.6g}"
        )
    return arr


def acceptance_rate(p: mx.array | np.ndarray, q: mx.array | np.ndarray) -> float:
    """Probability that a draft token drawn from ``q`` is accepted against ``p``.

    Under the rule "accept ``x ~ q`` with probability ``min(1, p(x) / q(x))``"
    this is ``sum_x q(x) min(1, p(x)/q(x)) = sum_x min(p(x), q(x))``, i.e.
    ``1 - TV(p, q)``.

    Args:
        p: target probabilities, shape ``(V,)``, ``mx.array`` (any float dtype)
            or ``np.ndarray``.
        q: draft probabilities, same shape.

    Returns:
        ``alpha = sum(min(p, q))`` as a float in ``[0, 1]`` (computed in
        float64; clipped to 1 against rounding).

    Raises:
        ValueError: if either is not 1-D, the shapes differ, an entry is
            negative or not finite, or a vector does not sum to 1 within
            ``PROB_SUM_TOLERANCE``.
    """
    # TODO(W2D1): alpha = sum(min(p, q)) = 1 - TV(p, q).
    #   1. Convert and check both vectors with _as_probs.
    #   2. Refuse different shapes (ValueError).
    #   3. Sum the elementwise minimum in float64; clip to 1 against rounding.
    raise NotImplementedError(
        "Week 2 Day 1 task `acceptance_rate` is not written yet: see book chapter week2-01-theory"
    )


def speedup(alpha: float, k: int, c: float, v: float = 1.0) -> float:
    """Predicted speedup of speculative decoding over plain target decoding.

    Plain decoding costs 1 (one target forward) per token. A speculative
    round costs ``K * c + v`` and emits ``E(alpha, K)`` tokens on average, so::

        S(alpha, K, c, v) = E(alpha, K) / (K * c + v)

    Args:
        alpha: per-token acceptance probability in ``[0, 1]``.
        k: lookahead ``K >= 0``. ``K = 0`` gives ``1 / v`` (a round that
            drafts nothing still pays one verification pass).
        c: cost of one draft step relative to one target step, ``c >= 0``.
        v: cost of the verification pass over ``K + 1`` tokens relative to
            one target step, ``v > 0`` (about 1 when decoding is
            memory-bound).

    Returns:
        The speedup as a float (``> 1`` means speculation wins).

    Raises:
        TypeError / ValueError: as :func:`expected_tokens_per_round` for
            ``alpha`` and ``k``; ValueError for a negative or non-finite
            ``c`` or a non-positive or non-finite ``v``.
    """
    # TODO(W2D1): S = E(alpha, K) / (K * c + v).
    #   1. E(alpha, K) from expected_tokens_per_round (it validates alpha and K).
    #   2. Validate c (>= 0) and v (> 0) with _check_cost.
    #   3. Divide by the cost of one round, K * c + v.
    raise NotImplementedError(
        "Week 2 Day 1 task `speedup` is not written yet: see book chapter week2-01-theory"
    )


def optimal_lookahead(alpha: float, c: float, v: float = 1.0, *, k_max: int = 32) -> int:
    """The lookahead K that maximises the predicted speedup.

    Searches ``K = 1 .. k_max`` for the largest :func:`speedup`; ties (equal
    within a relative ``1e-12``) go to the smaller K. ``K = 0`` stands for
    not speculating at all - plain decoding, speedup exactly 1 - and is
    returned when no ``K >= 1`` has a speedup above 1.

    Args:
        alpha: per-token acceptance probability in ``[0, 1]``.
        c: draft/target cost ratio ``>= 0``.
        v: relative cost of the verification pass ``> 0``.
        k_max: the largest K considered, an int ``>= 0``.

    Returns:
        The best K, an int in ``[0, k_max]``.

    Raises:
        TypeError / ValueError: for arguments :func:`speedup` rejects or a
            bad ``k_max``.
    """
    # TODO(W2D1): the K with the largest predicted speedup.
    #   1. Validate k_max, and alpha, c, v even when k_max == 0 (call speedup once).
    #   2. Start from K = 0 with speedup 1: plain decoding.
    #   3. Try K = 1 .. k_max; take a K only if it beats the best by a relative 1e-12,
    #      so exact ties go to the smaller K.
    raise NotImplementedError(
        "Week 2 Day 1 task `optimal_lookahead` is not written yet: see book chapter week2-01-theory"
    )


def break_even_alpha(k: int, c: float, v: float = 1.0) -> float:
    """The acceptance rate at which speculating with K drafts stops losing time.

    ``S(alpha, K, c, v)`` increases with alpha (for ``K >= 1``), so there is
    one alpha in ``[0, 1]`` where it crosses 1; it is found by bisection to
    about ``1e-12``.

    Args:
        k: lookahead ``K >= 0``.
        c: draft/target cost ratio ``>= 0``.
        v: relative cost of the verification pass ``> 0``.

    Returns:
        * ``0.0`` if even ``alpha = 0`` gives a speedup ``>= 1`` (the draft
          is free enough that speculation never loses, e.g. ``c = 0, v = 1``);
        * ``math.inf`` if even ``alpha = 1`` gives a speedup ``< 1``: no
          acceptance rate makes speculation pay at this K (so
          ``alpha > break_even_alpha(...)`` is ``False`` for every alpha);
        * otherwise the alpha in ``[0, 1]`` with ``speedup(alpha, k, c, v) == 1``
          (to within ``1e-9``).

    Raises:
        TypeError / ValueError: for arguments :func:`speedup` rejects.
    """
    # TODO(W2D1): the alpha where the speedup crosses 1.
    #   1. Speedup at alpha = 0 already >= 1: return 0.0.
    #   2. Speedup at alpha = 1 still < 1: return math.inf.
    #   3. Otherwise bisect on [0, 1] (the speedup grows with alpha) to about 1e-13.
    raise NotImplementedError(
        "Week 2 Day 1 task `break_even_alpha` is not written yet: see book chapter week2-01-theory"
    )
