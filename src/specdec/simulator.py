# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 2 Day 1: a speculative-decoding simulator with a virtual clock.

Real models make experiments slow and noisy. Here both "models" are
synthetic: at every position the target's and the draft's next-token
distributions are drawn afresh so that they agree exactly as much as we ask
(``sum(min(p, q)) == agreement``), and every forward pass costs a fixed number
of virtual milliseconds. The accept/reject decisions are the real ones
(Leviathan et al., 2023), made with a seeded NumPy generator, so the
simulator checks the theory of :mod:`specdec.theory` - and lets us try
lookahead policies on workloads whose agreement changes mid-generation.

NumPy (not MLX) is used on purpose: the vectors are tiny and the work is
per-token control flow, where NumPy's scalar overhead is lower.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np


# A str mixin rather than StrEnum (ruff UP042): str(Event.BONUS) stays "Event.BONUS".
class Event(str, Enum):  # noqa: UP042
    """What happened at one position of a speculative round.

    A round is always ``ACCEPTED * n`` followed by either
    ``REJECTED, CORRECTION`` (the draft token at position ``n`` was rejected
    and replaced by a token from the residual distribution) or ``BONUS``
    (all K draft tokens were accepted and the target's extra token is kept).
    Emitted tokens are the ACCEPTED ones plus the CORRECTION or BONUS one.
    """

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CORRECTION = "correction"
    BONUS = "bonus"


@dataclass(frozen=True)
class SimulationResult:
    """The outcome of :func:`simulate_generation`.

    Attributes:
        tokens: tokens emitted, equal to ``sum(accepted[r] + 1)`` and to the
            ``max_tokens`` asked for.
        rounds: number of speculative rounds.
        trace: one list of :class:`Event` per round (see :class:`Event`).
        lookaheads: the K used in each round (``len == rounds``).
        accepted: the number of accepted draft tokens in each round.
        spec_ms: virtual time of the speculative generation, in ms.
        target_only_ms: virtual time plain target decoding would take for the
            same number of tokens (``tokens * target_ms``).
        speedup: ``target_only_ms / spec_ms``.
    """

    tokens: int
    rounds: int
    trace: list[list[Event]]
    lookaheads: list[int]
    accepted: list[int]
    spec_ms: float
    target_only_ms: float
    speedup: float


# Given to students (kept in the stub): the agreement check.
def _check_agreement(agreement: float) -> float:
    if (
        isinstance(agreement, bool)
        or not isinstance(agreement, numbers.Real)
        or not 0.0 <= agreement <= 1.0
    ):
        raise ValueError(f"agreement must be a number in [0, 1], got {agreement!r}")
    return float(agreement)


def synthetic_pair(
    vocab_size: int, agreement: float, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A random target/draft pair of next-token distributions with a set overlap.

    Construction: split the vocabulary at random into two halves ``A`` and
    ``B``; draw three random distributions (flat Dirichlet) - ``s`` over the
    whole vocabulary (what both models believe), ``u`` over ``A`` (what only
    the target believes) and ``w`` over ``B`` (what only the draft believes) -
    and mix them::

        p = agreement * s + (1 - agreement) * u
        q = agreement * s + (1 - agreement) * w

    Because ``u`` and ``w`` never overlap, ``min(p, q) = agreement * s``
    everywhere, so ``sum(min(p, q)) == agreement`` exactly (up to float
    rounding) while the ratios ``p(x) / q(x)`` take all sorts of values.

    Args:
        vocab_size: ``V >= 2``.
        agreement: the acceptance rate ``alpha`` wanted, in ``[0, 1]``.
        rng: a ``np.random.Generator``, a seed, or ``None`` (fresh entropy).

    Returns:
        ``(p, q)``: two float64 arrays of shape ``(V,)``, each summing to 1.

    Raises:
        ValueError: if ``vocab_size < 2`` or ``agreement`` is outside ``[0, 1]``.
    """
    # TODO(W2D1): a random (p, q) whose overlap is the agreement.
    #   1. Validate vocab_size (an int >= 2) and the agreement.
    #   2. Split the vocabulary at random into two halves A and B.
    #   3. Draw flat-Dirichlet s over all tokens, u over A only, w over B only.
    #   4. p = a * s + (1 - a) * u and q = a * s + (1 - a) * w, so min(p, q) = a * s.
    raise NotImplementedError(
        "Week 2 Day 1 task `synthetic_pair` is not written yet: see book chapter week2-01-theory"
    )


# Given to students (kept in the stub): a sampling utility that verify_token and
# simulate_generation share; the day's subject is the rule around it.
def _draw(probs: np.ndarray, rng: np.random.Generator) -> int:
    # Inverse-CDF sampling of an (possibly unnormalised) vector: much cheaper
    # than rng.choice for one draw, and a zero-probability token has a
    # zero-width interval, so it is never drawn.
    cdf = np.cumsum(probs)
    index = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    return min(index, len(probs) - 1)


def verify_token(
    p: np.ndarray, q: np.ndarray, token: int, rng: np.random.Generator
) -> tuple[bool, int]:
    """Accept or replace one draft token (the speculative sampling rule).

    The draft proposed ``token ~ q``. Accept it with probability
    ``min(1, p(token) / q(token))``; otherwise draw a replacement from the
    residual ``max(0, p - q)``, normalised. Whatever ``q`` is, the token that
    comes out is distributed exactly as ``p``.

    Args:
        p: target distribution, float64 ``(V,)``.
        q: draft distribution, float64 ``(V,)``.
        token: the draft token, an int with ``q[token] > 0``.
        rng: the generator for the random decisions.

    Returns:
        ``(accepted, emitted)``: ``(True, token)`` when accepted, else
        ``(False, correction)`` with the correction drawn from the residual.

    Raises:
        ValueError: if ``q[token] == 0`` (the draft could not have proposed it).
    """
    # TODO(W2D1): accept or replace one draft token, in NumPy.
    #   1. Refuse a token with q = 0: it cannot have been drafted.
    #   2. Accept with probability min(1, p / q): one uniform u, accept if u * q < p.
    #   3. Otherwise draw from the residual max(0, p - q) (p itself if it is empty).
    raise NotImplementedError(
        "Week 2 Day 1 task `verify_token` is not written yet: see book chapter week2-01-theory"
    )


def simulate_generation(
    max_tokens: int,
    *,
    agreement: float | Callable[[int], float],
    lookahead: int = 4,
    adaptive: Any | None = None,
    target_ms: float = 10.0,
    draft_ms: float = 1.0,
    verify_ms: float | Callable[[int], float] | None = None,
    vocab_size: int = 16,
    seed: int = 0,
) -> SimulationResult:
    """Simulate one speculative generation of ``max_tokens`` tokens.

    Each round:

    1. ``K`` is ``adaptive.lookahead`` if ``adaptive`` is given, else
       ``lookahead``; it is lowered to ``max_tokens - tokens - 1`` so that a
       round never emits past ``max_tokens``.
    2. For draft position ``i = 0 .. K-1`` (the token at sequence index
       ``n = tokens + i``): draw ``(p, q) = synthetic_pair(vocab_size,
       alpha(n), rng)``, draft ``x ~ q`` and call :func:`verify_token`. On
       acceptance record ``ACCEPTED`` and go on; on rejection record
       ``REJECTED, CORRECTION`` and end the round (the later draft tokens are
       thrown away unseen, but they were drafted and are paid for).
    3. If all K were accepted, draw a fresh ``p`` for index ``tokens + K``
       and emit a bonus token from it: record ``BONUS``.
    4. The clock advances by ``K * draft_ms + verify_ms(K)``; the round emits
       ``accepted + 1`` tokens.
    5. With ``adaptive``: if ``K >= 1`` call
       ``adaptive.update_lookahead(accepted / K, drafted=K)``; if the policy
       itself asked for ``K = 0`` call ``adaptive.update_lookahead(0.0,
       drafted=0)`` (a round with no evidence; a K lowered to 0 only
       because ``max_tokens`` was reached is not reported).

    Since the synthetic distributions do not depend on earlier tokens, only
    the positions that are actually verified need distributions (drafting
    lazily changes nothing but speed).

    Args:
        max_tokens: tokens to generate, an int ``>= 1``.
        agreement: alpha, a float in ``[0, 1]``, or a function from the
            token index ``n`` (0-based position in the generated text) to
            alpha - e.g. ``lambda n: 0.9 if n < 500 else 0.3`` for a regime
            change after 500 tokens.
        lookahead: fixed K ``>= 0`` (ignored when ``adaptive`` is given).
        adaptive: optional policy with a ``lookahead`` property (an int
            ``>= 0``) and ``update_lookahead(rate, *, drafted)``, e.g. an
            ``AdaptiveSpeculator``; it chooses K every round.
        target_ms: cost of one target forward pass for one token, ``> 0``.
        draft_ms: cost of one draft forward pass, ``>= 0``.
        verify_ms: cost of the target pass over ``K + 1`` tokens: a number,
            a function of K, or ``None`` for ``target_ms`` (verification is
            memory-bound, so about one target step).
        vocab_size: vocabulary size of the synthetic models, ``>= 2``.
        seed: seed of the ``np.random.default_rng`` behind every random draw;
            the same arguments and seed give the same result.

    Returns:
        A :class:`SimulationResult`. ``tokens == max_tokens``;
        ``spec_ms == sum over rounds of (K * draft_ms + verify_ms(K))``.

    Raises:
        ValueError / TypeError: for a bad ``max_tokens``, ``lookahead``,
            cost, ``vocab_size``, an agreement outside ``[0, 1]`` (also when
            returned by the function), or a lookahead from ``adaptive`` that
            is not an int ``>= 0``.
    """
    # TODO(W2D1): a whole generation on a virtual clock.
    #   1. Validate max_tokens, lookahead, target_ms, draft_ms and verify_ms (a number,
    #      a function of K, or None for target_ms).
    #   2. Make alpha a function of the token index; seed one NumPy generator.
    #   3. Each round: K from the policy or the fixed lookahead (check it), capped at
    #      max_tokens - tokens - 1.
    #   4. Per draft position: a fresh synthetic_pair at that index, x ~ q, verify_token;
    #      record ACCEPTED, or REJECTED + CORRECTION and end the round.
    #   5. All K accepted: draw a bonus token from a fresh p and record BONUS.
    #   6. Advance the clock by K * draft_ms + verify_ms(K); count accepted + 1 tokens.
    #   7. Report the round to the policy (K >= 1, or a K = 0 the policy chose).
    #   8. Return a SimulationResult; the speedup is against tokens * target_ms.
    raise NotImplementedError(
        "Week 2 Day 1 task `simulate_generation` is not written yet: "
        "see book chapter week2-01-theory"
    )
