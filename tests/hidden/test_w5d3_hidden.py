"""Hidden tests, Week 5 Day 3 (instructor-only).

What the public tests do not show: an empty FIRST chunk, a zero-token request among others,
types the checks must refuse (a bool rate, a fractional n or chunk size, a NaN time), an
integer rate, and a single request's percentiles.
"""

import math

import numpy as np
import pytest

from specdec.servestats import (
    RequestLatency,
    poisson_arrivals,
    request_latency,
    summarize,
    token_times,
)

pytestmark = pytest.mark.w5d3


def test_an_empty_first_chunk_does_not_start_the_clock():
    # Bug caught: TTFT taken from chunk_times[0] whatever its size: an engine that reports a
    # request (0 tokens) at 0.1 s before its first token at 0.4 s would claim a TTFT of 0.1 s.
    got = request_latency(0.0, [0.1, 0.4, 0.6], [0, 1, 2])
    assert got.ttft == pytest.approx(0.4), (
        f"TTFT = the time of the first chunk WITH tokens (0.4 s) - arrival, got {got.ttft}: a "
        "0-token chunk delivered nothing"
    )
    assert got.itl == pytest.approx([0.1, 0.1]) and got.tokens == 3 and got.finish == 0.6, (
        f"gaps {got.itl}, tokens {got.tokens}, finish {got.finish}: want two gaps of "
        "0.2 / 2 = 0.1 s after the first token, 3 tokens, finish 0.6 s"
    )


def test_a_request_without_tokens_counts_but_has_no_ttft():
    # Bug caught: a zero-token request's TTFT counted as 0 (or None crashing percentile):
    # requests = 3, TTFTs 0.2 and 0.6 only -> p50 = 0.4.
    rows = [
        RequestLatency(0.0, 0.2, [0.1], 2, 0.3),
        RequestLatency(0.1, None, [], 0, None),
        RequestLatency(0.2, 0.6, [], 1, 0.8),
    ]
    got = summarize(rows, 2.0)
    assert (got.requests, got.tokens) == (3, 3), (got.requests, got.tokens)
    assert got.ttft_p50 == pytest.approx(0.4), (
        f"TTFT p50 over the two requests that received a token (0.2, 0.6) is 0.4, got "
        f"{got.ttft_p50}: leave out a request without tokens (ttft None), do not count it as 0"
    )
    assert got.throughput == pytest.approx(1.5), "3 tokens over the elapsed 2.0 s = 1.5 tok/s"


def test_a_single_request_and_a_single_gap():
    # One value: every percentile is that value.
    got = summarize([RequestLatency(0.0, 0.3, [0.05], 2, 0.35)], 0.5)
    assert (got.ttft_p50, got.ttft_p99, got.itl_p50, got.itl_p99) == pytest.approx(
        (0.3, 0.3, 0.05, 0.05)
    ), f"one TTFT (0.3 s) and one gap (0.05 s) are every percentile, got {got}"


@pytest.mark.parametrize(
    "rate,n,exc",
    [(True, 3, TypeError), (2.0, 2.5, TypeError), (-math.inf, 2, ValueError)],
    ids=["bool-rate", "fractional-n", "minus-inf"],
)
def test_poisson_refuses_bad_types(rate, n, exc):
    # Bug caught: only `rate <= 0` checked: True is a rate of 1 and 2.5 requests crash inside
    # numpy with an unrelated message.
    with pytest.raises(exc):
        poisson_arrivals(rate, n)


def test_an_integer_rate_gives_float_times():
    # Bug caught: the rate checked with isinstance(rate, float): an int rate (2 requests/s)
    # refused, though the docstring asks only for a number > 0.
    want = np.cumsum(np.random.default_rng(0).exponential(0.5, size=3)).tolist()
    got = poisson_arrivals(2, 3)
    assert got == pytest.approx(want, rel=1e-12) and all(type(t) is float for t in got), (
        f"rate=2 (an int): got {got}, want the running sum of exponential(1 / 2) draws {want}"
    )


@pytest.mark.parametrize(
    "times,sizes,exc",
    [
        ([0.1, math.nan], [1, 1], ValueError),
        ([0.1, 0.2], [1, 1.5], TypeError),
        ([0.1, 0.2], [True, 1], TypeError),
    ],
    ids=["nan-time", "fractional-size", "bool-size"],
)
def test_token_times_refuses_bad_entries(times, sizes, exc):
    # Bug caught: NaN passes a `t < previous` check (every comparison with NaN is False), and a
    # size of 1.5 makes `[t] * m` fail with numpy's message instead of a named one.
    with pytest.raises(exc):
        token_times(times, sizes)


def test_request_latency_refuses_a_nan_arrival():
    # Bug caught: the arrival never checked: NaN makes every TTFT NaN and the p50 meaningless.
    with pytest.raises(ValueError, match="arrival"):
        request_latency(math.nan, [0.2], [1])


def test_summarize_refuses_a_nan_elapsed_time():
    # Bug caught: `elapsed_s <= 0` alone lets NaN through (NaN <= 0 is False): throughput NaN.
    with pytest.raises(ValueError, match="elapsed"):
        summarize([RequestLatency(0.0, 0.1, [], 1, 0.1)], math.nan)
