"""Week 5 Day 3 - the serving bench's measurement (book chapter week5-03-serving-bench).

Pure arithmetic on times and token counts: every expected value below is worked out by
hand in a comment (the arrival times from numpy's own exponential draws, as the task's
docstring specifies); no model runs and no expected value comes from the code under test.
"""

import math

import numpy as np
import pytest

from specdec.servestats import (
    RequestLatency,
    ServeFigures,
    poisson_arrivals,
    request_latency,
    summarize,
    token_times,
)

pytestmark = pytest.mark.w5d3


class TestPoissonArrivals:
    def test_a_saturated_queue_waits_at_zero(self):
        got = poisson_arrivals(math.inf, 5)
        assert got == [0.0] * 5, (
            f"rate=inf is a saturated queue: all 5 requests already waiting at t = 0.0, got {got}"
        )
        assert poisson_arrivals(math.inf, 0) == [] and poisson_arrivals(3.0, 0) == []

    def test_first_arrival_after_one_gap_then_cumulative(self):
        # The gaps the docstring names: default_rng(7).exponential(1 / 4, size=4); arrival i is
        # gap 0 + ... + gap i, so arrival 0 is gap 0 (> 0), not t = 0.
        gaps = np.random.default_rng(7).exponential(0.25, size=4).tolist()
        got = poisson_arrivals(4.0, 4, seed=7)
        assert isinstance(got, list) and len(got) == 4, f"return a list of 4 floats, got {got!r}"
        assert got[0] > 0, (
            f"the first request arrived at {got[0]}: it arrives one exponential gap after "
            "t = 0 (arrival i = gap 0 + ... + gap i), not at 0"
        )
        want = [gaps[0], gaps[0] + gaps[1], sum(gaps[:3]), sum(gaps)]
        assert got == pytest.approx(want, rel=1e-12), (
            f"got {got}, want the running sum of the gaps {gaps} = {want}: use "
            "default_rng(seed).exponential(1 / rate, size=n) (numpy's scale is the MEAN gap, "
            "1 / rate) and add the gaps up"
        )

    def test_mean_gap_is_one_over_the_rate(self):
        # 20 000 gaps of mean 1/5 = 0.2 s: the sample mean's standard error is
        # 0.2 / sqrt(20000) = 0.0014 s, so 0.2 +- 0.007 is five standard errors.
        times = poisson_arrivals(5.0, 20_000, seed=1)
        mean_gap = times[-1] / len(times)
        assert mean_gap == pytest.approx(0.2, abs=0.007), (
            f"rate 5/s must give a mean gap of 1 / rate = 0.2 s, got {mean_gap:.4f} s"
            + (
                ": you passed the rate as numpy's scale; the scale is the mean gap, 1 / rate"
                if mean_gap > 1
                else ""
            )
        )
        gaps = np.diff([0.0, *times])
        assert np.all(gaps >= 0), "arrival times must never decrease (they are a running sum)"

    def test_the_seed_decides_the_trace(self):
        a, b = poisson_arrivals(2.0, 6, seed=3), poisson_arrivals(2.0, 6, seed=3)
        assert a == b, "the same seed must give the same arrivals (default_rng(seed))"
        assert a != poisson_arrivals(2.0, 6, seed=4), "a different seed must give other arrivals"

    @pytest.mark.parametrize("rate", [0.0, -1.0, math.nan], ids=["zero", "negative", "nan"])
    def test_a_bad_rate_is_refused(self, rate):
        with pytest.raises(ValueError, match="rate"):
            poisson_arrivals(rate, 3)

    def test_a_negative_count_is_refused(self):
        with pytest.raises(ValueError, match=r"\bn\b"):
            poisson_arrivals(1.0, -1)


class TestTokenTimes:
    def test_a_chunk_gives_its_time_to_each_of_its_tokens(self):
        # chunks: 1 token at 0.5 s, 3 at 0.9 s, 2 at 1.2 s -> 6 token times.
        got = token_times([0.5, 0.9, 1.2], [1, 3, 2])
        assert got == [0.5, 0.9, 0.9, 0.9, 1.2, 1.2], (
            f"got {got}: every one of a chunk's m tokens arrived at that chunk's time (a "
            "3-token chunk at 0.9 s is three tokens at 0.9 s)"
        )

    def test_an_empty_chunk_adds_nothing(self):
        assert token_times([0.1, 0.2], [2, 0]) == [0.1, 0.1], (
            "a chunk of 0 tokens (a request that finished with nothing new) adds no time"
        )
        assert token_times([], []) == []

    @pytest.mark.parametrize(
        "times,sizes,what",
        [
            ([0.1, 0.2], [1], "length"),
            ([0.1, 0.2], [1, -1], "negative size"),
            ([0.3, 0.2], [1, 1], "time going backwards"),
        ],
        ids=["lengths", "negative", "decreasing"],
    )
    def test_bad_chunks_are_refused(self, times, sizes, what):
        with pytest.raises(ValueError):
            token_times(times, sizes)


class TestRequestLatency:
    def test_hand_computed(self):
        # Arrival 1.0 s; chunks: 1 token at 1.5 s, 1 at 1.6 s, 3 at 1.9 s.
        # TTFT = 1.5 - 1.0 = 0.5 s (from the ARRIVAL).
        # ITL: 1 token 0.1 s after the last chunk -> [0.1]; 3 tokens 0.3 s later ->
        # 3 gaps of 0.3 / 3 = 0.1 s. So [0.1, 0.1, 0.1, 0.1]; 5 tokens; finish 1.9 s.
        got = request_latency(1.0, [1.5, 1.6, 1.9], [1, 1, 3])
        assert isinstance(got, RequestLatency)
        assert got.ttft == pytest.approx(0.5), (
            f"TTFT = first token time - arrival = 1.5 - 1.0 = 0.5 s, got {got.ttft}"
            + (": measure it from the request's arrival, not from t = 0" if got.ttft == 1.5 else "")
        )
        assert got.itl == pytest.approx([0.1, 0.1, 0.1, 0.1]), (
            f"got ITL gaps {got.itl}: ITL must spread a chunk's gap over its m tokens: a "
            "3-token chunk 0.3 s after the last one gives three gaps of 0.1 s (not one gap of "
            "0.3 s per chunk, and not 0.3, 0, 0)"
            + (
                "; and the first chunk contributes no gap (its wait is the TTFT)"
                if len(got.itl) > 4
                else ""
            )
        )
        assert (got.tokens, got.finish, got.arrival) == (5, 1.9, 1.0), (
            f"tokens, finish, arrival = {got.tokens}, {got.finish}, {got.arrival}; want 5 "
            "tokens, finish = the last token's time 1.9 s, arrival 1.0 s"
        )

    def test_the_first_chunk_gives_no_gap(self):
        # Arrival 0; 2 tokens at 0.2 s, 2 at 0.5 s. TTFT 0.2; the first chunk's wait IS the
        # TTFT, so only the second chunk gives gaps: 0.3 / 2 = 0.15 s twice.
        got = request_latency(0.0, [0.2, 0.5], [2, 2])
        assert got.itl == pytest.approx([0.15, 0.15]), (
            f"got {got.itl}: the first chunk contributes no ITL gap (its wait is the TTFT, its "
            "other tokens came with the first); the 2-token chunk 0.3 s later gives two gaps "
            "of 0.15 s: len(itl) = tokens - first chunk's size"
        )
        assert got.ttft == pytest.approx(0.2)

    def test_one_token_per_step(self):
        # Plain decoding: tokens at 0.1, 0.3, 0.6 s -> gaps 0.2 and 0.3 s.
        got = request_latency(0.0, [0.1, 0.3, 0.6], [1, 1, 1])
        assert got.itl == pytest.approx([0.2, 0.3]), (
            f"one token per step: the gaps are the differences of consecutive token times, "
            f"[0.2, 0.3], got {got.itl}"
        )

    def test_an_empty_chunk_is_skipped(self):
        # 1 token at 0.1 s, an empty chunk at 0.2 s, 2 tokens at 0.4 s: the 2-token chunk
        # came 0.4 - 0.1 = 0.3 s after the last chunk WITH tokens -> 0.15 s twice.
        got = request_latency(0.0, [0.1, 0.2, 0.4], [1, 0, 2])
        assert got.itl == pytest.approx([0.15, 0.15]), (
            f"got {got.itl}: a chunk of 0 tokens delivered nothing, so the next gap is "
            "measured from the last chunk WITH tokens (0.3 s over 2 tokens = 0.15 s each)"
        )

    def test_no_tokens(self):
        got = request_latency(0.7, [0.9], [0])
        assert got == RequestLatency(0.7, None, [], 0, None), (
            f"a request that received no token has ttft None, no gaps, 0 tokens and finish "
            f"None, got {got}"
        )

    def test_a_chunk_before_the_arrival_is_refused(self):
        with pytest.raises(ValueError, match="arriv"):
            request_latency(2.0, [1.5, 2.5], [1, 1])

    def test_speculative_chunks_compare_fairly_with_single_tokens(self):
        # A plain engine: 1 token every 0.1 s. A speculative one: 3 tokens every 0.3 s. Both
        # deliver 10 tokens/s after the first chunk, so their ITL must be the same 0.1 s.
        plain = request_latency(0.0, [0.1 * i for i in range(1, 7)], [1] * 6)
        spec = request_latency(0.0, [0.1, 0.4], [3, 3])
        assert plain.itl == pytest.approx([0.1] * 5), f"plain decoding: got {plain.itl}"
        assert spec.itl == pytest.approx([0.1] * 3), (
            f"3 tokens 0.3 s after the first chunk: got {spec.itl}; ITL must spread a chunk's gap "
            "over its m tokens (three gaps of 0.1 s), else speculation looks 3x slower per token"
        )


def _four_requests():
    """Four hand-made requests (consistent: first token + gaps = finish)."""
    return [
        RequestLatency(0.0, 0.1, [0.2, 0.2], 3, 0.5),  # first token at 0.1
        RequestLatency(0.5, 0.4, [0.1], 2, 1.0),  # first token at 0.9
        RequestLatency(1.0, 0.3, [0.3, 0.5, 0.4], 4, 2.5),  # first token at 1.3
        RequestLatency(1.5, 0.2, [], 1, 1.7),  # one token, no gap
    ]


class TestSummarize:
    def test_throughput_is_over_the_elapsed_time(self):
        # 3 + 2 + 4 + 1 = 10 tokens over the run's 4.0 s = 2.5 tok/s (the engine was busy only
        # from 0.1 s to 2.5 s, but the run lasted 4.0 s).
        got = summarize(_four_requests(), 4.0)
        assert isinstance(got, ServeFigures)
        assert (got.requests, got.tokens) == (4, 10), (got.requests, got.tokens)
        assert got.throughput == pytest.approx(2.5), (
            f"throughput = 10 tokens / elapsed 4.0 s = 2.5 tok/s, got {got.throughput}: divide by "
            "the elapsed time you were given, not by the time the engine was busy or the last "
            "finish"
        )

    def test_ttft_percentiles(self):
        # TTFTs 0.1, 0.4, 0.3, 0.2 -> sorted 0.1 0.2 0.3 0.4. Linear interpolation at rank
        # h = (n - 1) q / 100: p50 h = 1.5 -> 0.25; p99 h = 2.97 -> 0.3 + 0.97 * 0.1 = 0.397.
        got = summarize(_four_requests(), 4.0)
        assert got.ttft_p50 == pytest.approx(0.25) and got.ttft_p99 == pytest.approx(0.397), (
            f"TTFT p50, p99 = {got.ttft_p50}, {got.ttft_p99}; want 0.25 and 0.397: "
            'numpy.percentile(ttfts, [50, 99], method="linear") - percent, not fractions '
            "(0.5 would be the 0.5th percentile), and linear interpolation, not the nearest rank"
        )

    def test_itl_percentiles_pool_every_gap(self):
        # All gaps pooled: 0.2 0.2 0.1 0.3 0.5 0.4 -> sorted 0.1 0.2 0.2 0.3 0.4 0.5 (n = 6).
        # p50: h = 2.5 -> 0.2 + 0.5 * 0.1 = 0.25; p99: h = 4.95 -> 0.4 + 0.95 * 0.1 = 0.495.
        # (Per-request mean gaps 0.2, 0.1, 0.4 would give a p50 of 0.2.)
        got = summarize(_four_requests(), 4.0)
        assert got.itl_p50 == pytest.approx(0.25) and got.itl_p99 == pytest.approx(0.495), (
            f"ITL p50, p99 = {got.itl_p50}, {got.itl_p99}; want 0.25 and 0.495: pool EVERY gap "
            "of every request (one value per token), not one mean per request, then "
            'numpy.percentile(gaps, [50, 99], method="linear")'
        )
        assert all(
            isinstance(v, float) for v in (got.ttft_p50, got.ttft_p99, got.itl_p50, got.itl_p99)
        ), "return floats (numpy.percentile of a list of q gives an array: unpack it)"

    def test_no_gap_at_all_gives_nan_itl(self):
        got = summarize([RequestLatency(0.0, 0.2, [], 1, 0.2)], 1.0)
        assert math.isnan(got.itl_p50) and math.isnan(got.itl_p99), (
            f"with no ITL gap at all the ITL percentiles are NaN, got {got.itl_p50}, {got.itl_p99}"
        )
        assert got.ttft_p50 == pytest.approx(0.2) and got.throughput == pytest.approx(1.0)

    def test_empty_inputs_are_refused(self):
        with pytest.raises(ValueError, match="request"):
            summarize([], 1.0)
        with pytest.raises(ValueError, match="elapsed"):
            summarize(_four_requests(), 0.0)

    def test_no_request_with_a_token_is_refused(self):
        # A request without tokens has no TTFT (None), not a TTFT of 0: with no token at all
        # there is nothing to take a percentile of.
        with pytest.raises(ValueError, match="token"):
            summarize([RequestLatency(0.0, None, [], 0, None)], 1.0)


class TestEndToEnd:
    def test_one_small_run(self):
        # Two requests of a speculative engine, measured as the bench measures them.
        # A arrives at 0.0: 1 token at 0.2 s, 3 at 0.5 s -> TTFT 0.2, gaps 0.1 0.1 0.1.
        # B arrives at 0.3: 1 token at 0.5 s, 2 at 0.9 s -> TTFT 0.2, gaps 0.2 0.2.
        # 7 tokens over 1.0 s; TTFTs 0.2 0.2 -> p50 0.2; gaps 0.1 0.1 0.1 0.2 0.2 -> p50 = 0.1
        # (h = 2), p99: h = 3.96 -> 0.2.
        a = request_latency(0.0, [0.2, 0.5], [1, 3])
        b = request_latency(0.3, [0.5, 0.9], [1, 2])
        got = summarize([a, b], 1.0)
        want = (7.0, 0.2, 0.2, 0.1, 0.2, 2, 7)
        have = (
            got.throughput,
            got.ttft_p50,
            got.ttft_p99,
            got.itl_p50,
            got.itl_p99,
            got.requests,
            got.tokens,
        )
        assert have == pytest.approx(want), (
            f"(throughput, ttft p50, p99, itl p50, p99, requests, tokens) = {have}, want {want}: "
            "TTFT from each request's arrival, each chunk's gap spread over its tokens"
        )
