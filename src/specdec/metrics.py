# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 2 Day 2: from raw timings and counts to the figures a benchmark reports.

A benchmark run leaves behind plain numbers: how many tokens each decoder
produced and how long it took, how many draft tokens each round proposed and
how many the target accepted, and how long one draft step, one target step
and one verification pass take. The functions here turn those numbers into
the columns of ``specdec bench``'s table - the measured speedup, the
acceptance rate alpha, the cost ratios ``c`` and ``v``, and the speedup the
theory of Day 1 predicts from them - so that measurement and prediction can
be put side by side.

All functions take plain Python numbers (or lists of ints) and return Python
floats; none of them runs a model.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

from specdec.theory import speedup


@dataclass(frozen=True)
class BenchFigures:
    """The derived figures of one benchmark configuration (one K).

    Attributes:
        k: the lookahead K the speculative decoder was run with.
        spec_tokens_per_s: tokens per second of speculative decoding.
        base_tokens_per_s: tokens per second of target-only decoding.
        speedup: measured speedup, ``spec_tokens_per_s / base_tokens_per_s``.
        alpha: per-token acceptance rate estimated by maximum likelihood
            (see ``estimate_alpha``); NaN when nothing was drafted.
        mean_accepted: mean accepted draft tokens per round (NaN without rounds).
        c: cost of one draft step relative to one target step.
        v: cost of one verification pass over ``K + 1`` tokens relative to
            one target step.
        predicted_speedup: ``E(alpha, K) / (K * c + v)`` from
            ``specdec.theory.speedup``; ``1 / v`` for K = 0; NaN when K > 0
            but nothing was drafted (no alpha to predict from).
        measured_over_predicted: ``speedup / predicted_speedup`` (NaN when
            the prediction is NaN). Below 1: the decoder loses time the
            formula does not count (prefill, Python overhead, ...).
    """

    k: int
    spec_tokens_per_s: float
    base_tokens_per_s: float
    speedup: float
    alpha: float
    mean_accepted: float
    c: float
    v: float
    predicted_speedup: float
    measured_over_predicted: float


# Given to students (kept in the stub): argument checks that raise a TypeError or
# ValueError naming the argument, so the day's work is the estimates.
def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _check_seconds(value: object, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def _check_rounds(accepted: Sequence[int], drafted: Sequence[int]) -> tuple[list[int], list[int]]:
    accepted = [_check_count(a, "accepted_per_round entry") for a in accepted]
    drafted = [_check_count(d, "drafted_per_round entry") for d in drafted]
    if len(accepted) != len(drafted):
        raise ValueError(
            f"accepted_per_round and drafted_per_round must have one entry per round, "
            f"got {len(accepted)} and {len(drafted)}"
        )
    for i, (a, d) in enumerate(zip(accepted, drafted, strict=True)):
        if a > d:
            raise ValueError(f"round {i} accepted {a} draft tokens but drafted only {d}")
    return accepted, drafted


def estimate_alpha(accepted_per_round: Sequence[int], drafted_per_round: Sequence[int]) -> float:
    """Estimate the per-token acceptance rate alpha from round counts.

    Why not ``accepted / drafted``? A round stops at its first rejection:
    the draft tokens after it are thrown away without ever being tested. With
    alpha = 0.5 and K = 2, half the rounds reject the first token and never
    look at the second, so accepted / drafted comes out at 0.375, not 0.5 -
    and the larger K, the further it falls. That ratio is a fine description
    of wasted draft work, but a biased estimate of alpha.

    The model behind the estimate: each round is a run of independent
    Bernoulli(alpha) trials that stops at the first failure. A round that
    accepted ``n`` of its ``d`` draft tokens contributes ``n`` successes and,
    if ``n < d``, one failure; a fully accepted round contributes no failure.
    The likelihood of all rounds is ``alpha^A (1 - alpha)^R``, with ``A`` the
    total accepted tokens and ``R`` the number of rounds that ended in a
    rejection, and it is largest at::

        alpha_hat = A / (A + R)

    Rounds that drafted nothing (K = 0, or K capped to 0 at ``max_tokens``)
    contribute nothing.

    Args:
        accepted_per_round: accepted draft tokens of each round (ints >= 0).
        drafted_per_round: draft tokens proposed in each round (ints >= 0),
            the same length; the K actually used, which may vary by round.

    Returns:
        ``alpha_hat`` as a float in ``[0, 1]``; ``1.0`` when every round was
        fully accepted; NaN when nothing was drafted at all.

    Raises:
        TypeError: for a non-int entry.
        ValueError: for lists of different lengths, a negative entry, or a
            round that accepted more tokens than it drafted.
    """
    # TODO(W2D2): the maximum-likelihood alpha_hat = A / (A + R).
    #   1. Check the two lists with _check_rounds.
    #   2. A = all accepted tokens; R = rounds that ended in a rejection (accepted < drafted).
    #   3. Return A / (A + R); NaN when A + R == 0 (nothing was drafted).
    raise NotImplementedError(
        "Week 2 Day 2 task `estimate_alpha` is not written yet: see book chapter week2-02-benchmark"
    )


def cost_ratios(target_step_s: float, draft_step_s: float, verify_s: float) -> tuple[float, float]:
    """The relative costs the speedup formula needs.

    Args:
        target_step_s: seconds of one target forward pass over one token
            (a decode step with a warm KV cache).
        draft_step_s: seconds of one draft forward pass over one token.
        verify_s: seconds of one target forward pass over ``K + 1`` tokens
            (the verification pass).

    Returns:
        ``(c, v)``: ``c = draft_step_s / target_step_s`` and
        ``v = verify_s / target_step_s``.

    Raises:
        ValueError: if a time is not a finite number > 0.
    """
    # TODO(W2D2): the relative costs c and v.
    #   1. Check that each time is a finite number > 0 (_check_seconds).
    #   2. c = draft step / target step, v = verify pass / target step.
    raise NotImplementedError(
        "Week 2 Day 2 task `cost_ratios` is not written yet: see book chapter week2-02-benchmark"
    )


def derive_figures(
    k: int,
    *,
    spec_tokens: int,
    spec_seconds: float,
    base_tokens: int,
    base_seconds: float,
    accepted_per_round: Sequence[int],
    drafted_per_round: Sequence[int],
    target_step_s: float,
    draft_step_s: float,
    verify_s: float,
) -> BenchFigures:
    """Turn one configuration's raw measurements into the table's figures.

    Args:
        k: the lookahead K (int >= 0) the speculative run used.
        spec_tokens: tokens produced by the speculative runs (int > 0).
        spec_seconds: wall time of those runs (> 0).
        base_tokens: tokens produced by the target-only runs (int > 0).
        base_seconds: wall time of those runs (> 0).
        accepted_per_round: accepted draft tokens of every round.
        drafted_per_round: draft tokens proposed in every round.
        target_step_s: seconds of one single-token target step.
        draft_step_s: seconds of one single-token draft step.
        verify_s: seconds of one target pass over ``K + 1`` tokens.

    Returns:
        A :class:`BenchFigures`: tokens per second of both decoders, the
        measured speedup, ``alpha`` from :func:`estimate_alpha`, the mean
        accepted tokens per round, ``(c, v)`` from :func:`cost_ratios`, the
        predicted speedup ``specdec.theory.speedup(alpha, k, c, v)`` (with
        alpha taken as 0 for K = 0, where it does not matter; NaN when K > 0
        and nothing was drafted) and measured / predicted.

    Raises:
        TypeError: for a non-int K, token count or round entry.
        ValueError: for a negative K, a token count < 1, a time that is not a
            finite number > 0, or round lists :func:`estimate_alpha` rejects.
    """
    # TODO(W2D2): one configuration's BenchFigures.
    #   1. Validate K and the token counts (>= 1); turn tokens and seconds into tokens/s.
    #   2. c and v from cost_ratios, alpha from estimate_alpha, the mean accepted per
    #      round (NaN without rounds).
    #   3. Predict: K = 0 -> speedup(0.0, 0, c, v); no alpha -> NaN; else speedup(alpha, K, c, v).
    #   4. Fill BenchFigures, with measured / predicted (NaN without a prediction).
    raise NotImplementedError(
        "Week 2 Day 2 task `derive_figures` is not written yet: see book chapter week2-02-benchmark"
    )
