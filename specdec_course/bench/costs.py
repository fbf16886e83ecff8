"""Per-token costs: one target step, one draft step, and v(K), a verify pass of K + 1 tokens."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import make_prompt_cache, trim_prompt_cache

from specdec_course.bench.sweep import rotated


@dataclass
class StepCosts:
    """Median seconds of single forward passes at one cache length.

    Attributes:
        context_len: tokens in the KV cache when the passes were timed.
        target_step_s: one target pass over 1 token.
        draft_step_s: one draft pass over 1 token.
        verify_s: K -> one target pass over K + 1 tokens (K = 0 is the
            target step itself).
        samples: the number of timed calls behind each median.
    """

    context_len: int
    target_step_s: float
    draft_step_s: float
    verify_s: dict[int, float]
    samples: int

    def c(self) -> float:
        """Draft step / target step."""
        return self.draft_step_s / self.target_step_s

    def v(self, k: int) -> float:
        """Verify pass of K + 1 tokens / target step."""
        return self.verify_s[k] / self.target_step_s


def realistic_context(prompt: Sequence[int], max_tokens: int) -> list[int]:
    """A context as long as the middle of a generation: prompt + max_tokens / 2 tokens.

    The extra tokens repeat the prompt: a dense model's forward pass costs the
    same whatever the token ids are; only the cache length matters.
    """
    prompt = list(prompt)
    want = len(prompt) + max(1, max_tokens // 2)
    return (prompt * (want // len(prompt) + 1))[:want]


def time_forward(model: Any, cache: list[Any], tokens: Sequence[int]) -> float:
    """Seconds of one cached forward pass over ``tokens``; the cache is trimmed back after.

    ``mx.eval`` forces the lazy graph before the clock stops: without it the
    call would only *build* the computation and take microseconds.
    """
    x = mx.array(list(tokens))[None]
    start = time.perf_counter()
    mx.eval(model(x, cache=cache))
    elapsed = time.perf_counter() - start
    trim_prompt_cache(cache, len(tokens))
    return elapsed


def measure_costs(
    draft: Any,
    target: Any,
    context: Sequence[int],
    ks: Sequence[int],
    *,
    repeats: int = 20,
    warmup: int = 2,
) -> StepCosts:
    """Time single-token steps of both models and (K+1)-token verify passes.

    Both caches are prefilled with ``context``; every timed call feeds new
    tokens at that position and trims them off again, so every call sees the
    same cache length. The calls are interleaved - one of each kind per
    repetition, in a rotating order - so that drift in the machine's speed
    spreads over all of them; the first ``warmup`` repetitions are dropped
    and the median of the rest is kept (robust to a stray slow call).
    """
    context = list(context)
    caches = {"target": make_prompt_cache(target), "draft": make_prompt_cache(draft)}
    mx.eval(target(mx.array(context)[None], cache=caches["target"]))
    mx.eval(draft(mx.array(context)[None], cache=caches["draft"]))
    verify_ks = sorted({k for k in ks if k > 0})
    # (name, model, which cache, tokens per call)
    jobs: list[tuple[str, Any, str, int]] = [("target", target, "target", 1), ("draft", draft, "draft", 1)]
    jobs += [(f"verify{k}", target, "target", k + 1) for k in verify_ks]
    times: dict[str, list[float]] = {name: [] for name, _, _, _ in jobs}
    for rep in range(repeats + warmup):
        for name, model, cache_name, n in rotated(jobs, rep):
            tokens = (context * (n // len(context) + 1))[:n]
            elapsed = time_forward(model, caches[cache_name], tokens)
            if rep >= warmup:
                times[name].append(elapsed)
    med = {name: statistics.median(t) for name, t in times.items()}
    verify = {k: med[f"verify{k}"] for k in verify_ks}
    if 0 in ks:
        verify[0] = med["target"]
    return StepCosts(len(context), med["target"], med["draft"], verify, repeats)


def add_verify_cost(costs: StepCosts, draft: Any, target: Any, context: Sequence[int], k: int, *,
                    repeats: int = 20) -> None:
    """Measure v(K) for one more K and add it to ``costs`` (nothing to do if it is there).

    The new session's verify time is scaled by the ratio of the two target
    step times, so ``costs.v(k)`` is a ratio taken within one session.
    """
    if k in costs.verify_s:
        return
    extra = measure_costs(draft, target, context, [k], repeats=repeats)
    if k > 0:
        costs.verify_s[k] = extra.v(k) * costs.target_step_s
    else:
        costs.verify_s[0] = costs.target_step_s


def combine_costs(sessions: Sequence[StepCosts]) -> StepCosts:
    """One :class:`StepCosts` from several measuring sessions spread over the run.

    The ratios c and v(K) are taken within each session (so a session that
    ran while the machine was busy is compared with itself) and the median
    over sessions is kept; the target step is the median target step.
    """
    if len(sessions) == 1:
        return sessions[0]
    target = statistics.median(x.target_step_s for x in sessions)
    c = statistics.median(x.c() for x in sessions)
    ks = set.intersection(*(set(x.verify_s) for x in sessions))
    verify = {k: statistics.median(x.v(k) for x in sessions) * target for k in sorted(ks)}
    return StepCosts(sessions[0].context_len, target, c * target, verify, sum(x.samples for x in sessions))




def verify_line(costs: StepCosts) -> tuple[float, float]:
    """``(v0, slope)`` of a straight line fitted to the measured v(K), with v(0) = 1."""
    import numpy as np

    ks = sorted(set(costs.verify_s) | {0})
    vs = [1.0 if k == 0 else costs.v(k) for k in ks]
    if len(ks) == 1:
        return 1.0, 0.0
    slope, intercept = np.polyfit(ks, vs, 1)
    return max(1e-3, float(intercept)), max(0.0, float(slope))


def verify_cost_model(costs: StepCosts) -> Callable[[int], float]:
    """v(K) for any K, from :func:`verify_line`."""
    v0, slope = verify_line(costs)
    return lambda k: v0 + slope * k
