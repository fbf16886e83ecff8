# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 5 Day 3: the serving bench's measurement - throughput and latency under load.

A serving engine is judged on two kinds of figure. **Throughput**: tokens per second
delivered to all requests together, over the whole run. **Latency**, per request: how
long until its first token (TTFT, *time to first token*), and how long between its
tokens after that (ITL, *inter-token latency*). A busy engine trades one for the other:
more rows per step raise throughput and stretch every row's step.

The bench (``specdec bench --serve``) replays a *trace* - requests arriving over time -
against an engine and records, for every request, when each engine step delivered
tokens to it and how many (a *chunk*: one token for a plain decoding step, up to K + 1
for a speculative round). The functions here turn those records into the table's
figures:

* :func:`poisson_arrivals` - when the requests arrive (independent users: exponential
  gaps; ``rate=inf`` is a saturated queue, everything waiting at t = 0);
* :func:`token_times` - a request's chunks as one time per token;
* :func:`request_latency` - one request's TTFT, ITL gaps, token count and finish time;
* :func:`summarize` - throughput and the p50 / p99 of TTFT and ITL over a whole run.

Times are seconds since the trace started, plain Python floats; nothing here runs a model.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RequestLatency:
    """One request's latency figures.

    Attributes:
        arrival: when the request arrived (seconds since the trace started).
        ttft: time to first token, ``first token time - arrival``; None without tokens.
        itl: the inter-token gaps after the first chunk, one per token (see
            :func:`request_latency`: a chunk of ``m`` tokens gives ``m`` gaps).
        tokens: how many tokens the request received.
        finish: when its last token arrived; None without tokens.
    """

    arrival: float
    ttft: float | None
    itl: list[float]
    tokens: int
    finish: float | None


@dataclass(frozen=True)
class ServeFigures:
    """A run's figures: the columns of the serving bench's table.

    Attributes:
        throughput: tokens per second, all requests' tokens over the run's elapsed time.
        ttft_p50, ttft_p99: median and 99th percentile of the requests' TTFT (seconds).
        itl_p50, itl_p99: median and 99th percentile of all ITL gaps (seconds; NaN when
            no request got a second chunk).
        requests: how many requests the run served.
        tokens: how many tokens they received together.
    """

    throughput: float
    ttft_p50: float
    ttft_p99: float
    itl_p50: float
    itl_p99: float
    requests: int
    tokens: int


# Given to students (kept in the stub): argument checks that name the argument, so the
# day's work is the measurement itself.
def _check_time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    return float(value)


def _check_size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return int(value)


def poisson_arrivals(rate: float, n: int, *, seed: int = 0) -> list[float]:
    """Arrival times of ``n`` requests from independent users (a Poisson process).

    The gaps between arrivals are exponential with mean ``1 / rate``: exactly
    ``numpy.random.default_rng(seed).exponential(1 / rate, size=n)``, so a seed gives the
    same trace on every machine. Arrival ``i`` is the sum of the first ``i + 1`` gaps: the
    first request arrives one gap after t = 0, not at 0.

    Args:
        rate: mean arrivals per second, ``> 0``; ``math.inf`` is a saturated queue (every
            request already waiting at t = 0).
        n: how many requests (``>= 0``).
        seed: the generator's seed.

    Returns:
        ``n`` non-decreasing floats (seconds); all ``0.0`` for ``rate=math.inf``.

    Raises:
        TypeError: for a non-int ``n`` or a non-number rate.
        ValueError: for a rate that is not > 0 (NaN included) or a negative ``n``.
    """
    # TODO(W5D3): the arrival times of a Poisson process.
    #   1. Check n (_check_size) and the rate: a number (not a bool), > 0, not NaN; inf is allowed.
    #   2. rate == inf: every request waits at t = 0.0 (a list of n zeros).
    #   3. gaps = default_rng(seed).exponential(1 / rate, size=n): mean gap 1 / rate.
    #   4. Return the running sum of the gaps as Python floats (the first arrival = the first gap).
    raise NotImplementedError(
        "Week 5 Day 3 task `poisson_arrivals` is not written yet: "
        "see book chapter week5-03-serving-bench"
    )


def token_times(chunk_times: Sequence[float], chunk_sizes: Sequence[int]) -> list[float]:
    """When each of a request's tokens arrived.

    Args:
        chunk_times: when each engine step delivered tokens to the request (seconds,
            non-decreasing).
        chunk_sizes: how many tokens each of those steps delivered (ints ``>= 0``).

    Returns:
        One time per token, in order: the ``m`` tokens of a chunk all at that chunk's time
        (a chunk of 0 tokens adds nothing).

    Raises:
        TypeError: for a non-int size.
        ValueError: for lists of different lengths, a negative size, a time that is not a
            finite number, or times that go backwards.
    """
    # TODO(W5D3): one time per token.
    #   1. Check the two lists have the same length, every size (_check_size), every
    #      time (_check_time) and that no time is earlier than the one before it.
    #   2. Repeat each chunk's time once per token of the chunk.
    raise NotImplementedError(
        "Week 5 Day 3 task `token_times` is not written yet: "
        "see book chapter week5-03-serving-bench"
    )


def request_latency(
    arrival: float, chunk_times: Sequence[float], chunk_sizes: Sequence[int]
) -> RequestLatency:
    """One request's TTFT, ITL gaps, token count and finish time.

    TTFT is measured from the request's **arrival**, not from when the engine admitted it:
    time spent waiting for a free slot is part of what the user waits.

    ITL spreads a chunk over its tokens: a chunk of ``m`` tokens arriving ``Δ`` seconds
    after the previous chunk (with tokens) contributes ``m`` gaps of ``Δ / m``. A plain
    decoding step (``m = 1``) gives its one gap; a speculative round that delivered 3
    tokens 0.3 s after the last one gives three gaps of 0.1 s - the pace its reader sees
    them at on average - rather than one gap of 0.3 s (which would make speculation look
    three times slower per token than it is) or 0.3, 0, 0 (which would pretend two of its
    tokens cost nothing). The first chunk contributes no gap: its wait is the TTFT, and
    its other tokens came with the first one. So ``len(itl) = tokens - (first chunk's
    size)``, and the gaps add up to ``finish - first token time``.

    Args:
        arrival: when the request arrived (seconds since the trace started).
        chunk_times, chunk_sizes: the request's chunks, as for :func:`token_times`; no
            chunk may come before ``arrival``.

    Returns:
        A :class:`RequestLatency`; for a request that received no token, ``ttft`` and
        ``finish`` are None and ``itl`` is empty.

    Raises:
        TypeError / ValueError: for chunks :func:`token_times` refuses, an arrival that is
            not a finite number, or a chunk earlier than the arrival.
    """
    # TODO(W5D3): one request's latency figures.
    #   1. Check the arrival (_check_time) and the chunks (token_times does); no chunk may
    #      come before the arrival.
    #   2. No tokens at all: ttft and finish None, no gaps.
    #   3. ttft = time of the first chunk WITH tokens - arrival; finish = the last token's time.
    #   4. For every later chunk with m > 0 tokens: Δ = its time - the previous chunk with
    #      tokens; add m gaps of Δ / m. Chunks of 0 tokens are skipped entirely.
    raise NotImplementedError(
        "Week 5 Day 3 task `request_latency` is not written yet: "
        "see book chapter week5-03-serving-bench"
    )


def summarize(latencies: Sequence[RequestLatency], elapsed_s: float) -> ServeFigures:
    """A run's throughput and latency percentiles.

    Throughput divides every request's tokens by ``elapsed_s``, the run's wall time from
    the trace's start to its end - not by the time the engine was busy: idle waits for the
    next arrival are part of the run, so at light load throughput is about the offered
    load, as it should be.

    Percentiles use ``numpy.percentile(values, q, method="linear")`` with ``q`` in percent
    (50 and 99): TTFT over the requests that received a token (one value each), ITL over
    ALL the gaps of all requests pooled (one value per token, so a long request weighs
    more than a short one, as its reader waits more often).

    Args:
        latencies: one :class:`RequestLatency` per request (at least one).
        elapsed_s: the run's elapsed seconds (a finite number > 0).

    Returns:
        A :class:`ServeFigures`. ``itl_p50`` / ``itl_p99`` are NaN when there is no gap at
        all (every request got a single chunk).

    Raises:
        ValueError: for no requests, no request with a token, or an ``elapsed_s`` that is
            not a finite number > 0.
    """
    # TODO(W5D3): the run's figures.
    #   1. Refuse an empty list of requests and an elapsed_s that is not a finite number > 0.
    #   2. tokens = all requests' tokens; throughput = tokens / elapsed_s.
    #   3. TTFT p50 / p99 (numpy.percentile, method="linear", q in percent) over the
    #      requests that have a TTFT (none: ValueError).
    #   4. ITL p50 / p99 over every gap of every request, pooled (NaN when there is no gap).
    raise NotImplementedError(
        "Week 5 Day 3 task `summarize` is not written yet: see book chapter week5-03-serving-bench"
    )
