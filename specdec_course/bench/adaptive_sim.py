"""The AdaptiveSpeculator on the real models' costs and on simulated workloads."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from specdec_course.bench.settings import ADAPTIVE_INITIAL_K, SIM_K_MAX, SIM_WORKLOADS, Impl


def adaptive_costs(c: float, v0: float, slope: float) -> dict[str, float]:
    """AdaptiveSpeculator cost arguments for a verify cost that grows with K.

    The speedup model E / (K c + v) takes a constant v, but a verify pass of
    K + 1 tokens costs about v0 + slope * K. Then
    E / (K c + v0 + slope K) = E / (K (c + slope) + v0): the slope is folded
    into the per-draft-token cost.
    """
    return {"draft_cost": c + slope, "verify_cost": v0}


def make_speculator(impl: Impl, costs: dict[str, float]) -> Any:
    """The bench's AdaptiveSpeculator, told the measured costs."""
    return impl.AdaptiveSpeculator(ADAPTIVE_INITIAL_K, **costs)


@dataclass
class SimRow:
    """Adaptive vs the best fixed K on one simulated workload."""

    workload: str
    best_k: int
    best_fixed_speedup: float
    adaptive_speedup: float
    ratio: float
    fixed_speedups: dict[int, float]
    adaptive_mean_k: float


def simulate_adaptive(
    impl: Impl,
    c: float,
    v_of_k: Callable[[int], float],
    *,
    tokens: int,
    seeds: int,
    workloads: dict[str, float | Callable[[int], float]] = SIM_WORKLOADS,
    k_max: int = SIM_K_MAX,
    on_step: Callable[[str], None] = lambda label: None,
) -> list[SimRow]:
    """Sweep fixed K = 1..k_max and the AdaptiveSpeculator on simulated workloads.

    Costs in target-step units: a draft step costs ``c`` and a verify pass
    ``v_of_k(K)``, as measured on the real models. Every policy sees the same
    seeds (common random numbers), so differences are policy, not luck.
    """
    rows = []
    for name, agreement in workloads.items():
        def speed(policy: Callable[[], dict[str, Any]]) -> tuple[float, float]:
            # Speedup over all seeds together (total target-only time / total time) and the mean K used.
            plain = spec = 0.0
            used: list[int] = []
            for s in range(seeds):
                res = impl.simulate_generation(tokens, agreement=agreement, target_ms=1.0, draft_ms=c,
                                               verify_ms=v_of_k, seed=s, **policy())
                plain += res.target_only_ms
                spec += res.spec_ms
                used += list(res.lookaheads)
            return plain / spec, statistics.fmean(used)

        fixed = {}
        for k in range(1, k_max + 1):
            fixed[k] = speed(lambda k=k: {"lookahead": k})[0]
            on_step(name)
        # A fresh speculator per seed, told the measured costs (the verify line folded into c).
        costs = adaptive_costs(c, v_of_k(0), v_of_k(1) - v_of_k(0))
        adaptive_speed, mean_k = speed(lambda: {"adaptive": make_speculator(impl, costs)})
        on_step(name)
        best_k = max(fixed, key=fixed.get)
        rows.append(SimRow(name, best_k, fixed[best_k], adaptive_speed, adaptive_speed / fixed[best_k], fixed,
                           mean_k))
    return rows
