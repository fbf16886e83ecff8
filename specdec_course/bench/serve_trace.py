"""The serving bench's driver: replay a trace of requests in real time against one engine.

A *trace* is a list of requests, each with an arrival time, a prompt and a token budget.
:func:`run_trace` replays one against a fresh engine: a request is submitted once the wall
clock since the start passes its arrival, ``engine.step()`` runs while the engine has work,
and when it is idle the driver sleeps until the next arrival. Every ``Emitted`` record
becomes a *chunk* of its request (the step's end time, how many tokens), and the student's
Week 5 Day 3 functions (``specdec.servestats``) turn the chunks into TTFT, ITL and
throughput. Latency counts from the request's scheduled arrival, so a request that arrives
during a step, or waits for a free slot, waits on the clock (an open-loop load: the
arrivals never wait for the engine).

May import: ``core``, ``api`` (and the student package ``specdec``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from specdec_course.api.serving import ServingEngine


@dataclass(frozen=True)
class Request:
    """One request of a trace: when it arrives (s), its prompt, its token budget."""

    arrival: float
    prompt: list[int]
    max_tokens: int


@dataclass
class TraceResult:
    """What one engine did with one trace."""

    latencies: list[Any]  # specdec.servestats.RequestLatency, one per request
    figures: Any  # specdec.servestats.ServeFigures
    elapsed_s: float
    tokens: list[list[int]]
    steps: int
    mismatched: int | None = None


def make_trace(
    prompts: Sequence[list[int]], arrivals: Sequence[float], max_tokens: int
) -> list[Request]:
    """One request per arrival time, the prompts cycled in order."""
    return [
        Request(float(t), list(prompts[i % len(prompts)]), max_tokens)
        for i, t in enumerate(arrivals)
    ]


def run_trace(
    engine_factory: Callable[[], ServingEngine],
    trace: Sequence[Request],
    *,
    reference: Sequence[Sequence[int]] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> TraceResult:
    """Replay ``trace`` in real time against a fresh engine and measure it.

    Args:
        engine_factory: builds the engine (called once, before the clock starts).
        trace: the requests, in any order.
        reference: optional expected tokens per request (at least ``max_tokens`` of them):
            requests whose tokens differ are counted in ``mismatched``.
        clock, sleep: the wall clock and the idle wait (tests pass a fake clock).

    Returns:
        A :class:`TraceResult`, figures from ``specdec.servestats``.

    Raises:
        RuntimeError: when the engine reports an unknown request id, stops with requests
            unfinished, or takes far more steps than the tokens asked for.
    """
    from specdec.servestats import request_latency, summarize

    engine = engine_factory()
    order = sorted(range(len(trace)), key=lambda i: trace[i].arrival)
    times: list[list[float]] = [[] for _ in trace]
    sizes: list[list[int]] = [[] for _ in trace]
    tokens: list[list[int]] = [[] for _ in trace]
    done = [False] * len(trace)
    ids: dict[int, int] = {}
    limit = 4 * sum(r.max_tokens + 1 for r in trace) + 100
    nxt = steps = 0
    start = clock()
    while True:
        now = clock() - start
        while nxt < len(order) and trace[order[nxt]].arrival <= now:
            r = trace[order[nxt]]
            ids[engine.submit(list(r.prompt), r.max_tokens)] = order[nxt]
            nxt += 1
        if engine.has_work():
            emitted = engine.step()
            steps += 1
            t = clock() - start
            for e in emitted:
                if e.request_id not in ids:
                    raise RuntimeError(
                        f"the engine reported request id {e.request_id}, never submitted"
                    )
                i = ids[e.request_id]
                times[i].append(t)
                sizes[i].append(len(e.tokens))
                tokens[i].extend(int(x) for x in e.tokens)
                done[i] = done[i] or e.finished
            if steps > limit:
                raise RuntimeError(f"the engine took over {limit} steps for {len(trace)} requests")
        elif nxt < len(order):
            sleep(max(0.0, trace[order[nxt]].arrival - (clock() - start)))
        else:
            break
    elapsed = clock() - start
    getattr(engine, "close", lambda: None)()
    if not all(done):
        raise RuntimeError(
            f"the engine has no work left but {done.count(False)} requests never finished"
        )
    latencies = [request_latency(r.arrival, times[i], sizes[i]) for i, r in enumerate(trace)]
    result = TraceResult(latencies, summarize(latencies, elapsed), elapsed, tokens, steps)
    if reference is not None:
        want = [list(reference[i][: r.max_tokens]) for i, r in enumerate(trace)]
        result.mismatched = sum(got != w for got, w in zip(tokens, want, strict=True))
    return result
