"""The bench report: rows of figures per configuration, and :func:`run_bench` that fills it."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
from rich.progress import Progress

from specdec_course.bench.adaptive_sim import SimRow, adaptive_costs, simulate_adaptive
from specdec_course.bench.costs import (
    StepCosts,
    add_verify_cost,
    combine_costs,
    measure_costs,
    realistic_context,
    verify_cost_model,
    verify_line,
)
from specdec_course.bench.mlxlm import mlx_lm_configs
from specdec_course.bench.settings import (
    ADAPTIVE,
    ADAPTIVE_INITIAL_K,
    BASELINE,
    SIM_K_MAX,
    SIM_WORKLOADS,
    BenchSettings,
    Impl,
)
from specdec_course.bench.sweep import (
    Mismatch,
    Runs,
    find_mismatches,
    make_configs,
    run_sweep,
    warm_up,
)
from specdec_course.core.blas import blas_name


@dataclass
class Row:
    """One line of the table (and of bench.csv)."""

    label: str
    k: int | None
    tokens: int
    seconds: float
    tokens_per_s: float
    tokens_per_s_std: float | None
    speedup: float
    target_calls: float
    draft_calls: float
    alpha: float | None = None
    mean_accepted: float | None = None
    c: float | None = None
    v: float | None = None
    predicted_speedup: float | None = None
    measured_over_predicted: float | None = None
    identical: bool | None = None
    group: str = "sweep"
    rounds: int | None = None
    tokens_drafted: int | None = None
    tokens_accepted: int | None = None


@dataclass
class BenchReport:
    """What :func:`run_bench` measured; :func:`write_outputs` saves it."""

    settings: BenchSettings
    blas: str
    machine: dict[str, Any]
    impl: str
    models: dict[str, str]
    n_prompts: int
    costs: StepCosts
    rows: list[Row]
    mismatches: list[Mismatch]
    mlx_lm_mismatches: list[Mismatch] = field(default_factory=list)
    simulated: list[SimRow] = field(default_factory=list)
    cost_sessions: list[StepCosts] = field(default_factory=list)
    best_k: int | None = None
    seconds: float = 0.0

    @property
    def greedy(self) -> bool:
        """Whether outputs must equal the baseline's (temperature 0)."""
        return self.settings.temperature == 0

    @property
    def ok(self) -> bool:
        """False when greedy outputs differ from the baseline's other than at a float near-tie.

        A difference whose first token sits where the target's top-2 logits are within the
        near-tie gap (specdec_course.testing.ties) is rounding, not a lossless-ness bug: GPUs
        round a (K+1)-token pass and single-token steps differently. Undiagnosed ones fail.
        """
        return not (self.greedy and any(not m.near_tie for m in self.mismatches))


def machine_info() -> dict[str, Any]:
    """Where the numbers were taken (they mean little without it)."""
    import mlx_lm

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "mlx": mx.__version__,
        "mlx_lm": mlx_lm.__version__,
    }
    # Thread counts change the cost of multi-token passes (v) on a busy CPU.
    info["env"] = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "LD_PRELOAD")}
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _std(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def _row_from_figures(runs: Runs, figures: Any, group: str, identical: bool | None) -> Row:
    per = max(runs.generations, 1)
    return Row(
        label=runs.label, k=runs.k, tokens=runs.tokens, seconds=runs.seconds,
        tokens_per_s=figures.spec_tokens_per_s, tokens_per_s_std=_std(runs.repeat_tokens_per_s),
        speedup=figures.speedup, target_calls=runs.target_calls / per, draft_calls=runs.draft_calls / per,
        alpha=figures.alpha, mean_accepted=figures.mean_accepted, c=figures.c, v=figures.v,
        predicted_speedup=figures.predicted_speedup, measured_over_predicted=figures.measured_over_predicted,
        identical=identical, group=group, rounds=len(runs.accepted_per_round),
        tokens_drafted=sum(runs.drafted_per_round), tokens_accepted=sum(runs.accepted_per_round),
    )


def _baseline_row(runs: Runs, group: str) -> Row:
    per = max(runs.generations, 1)
    return Row(label=runs.label, k=None, tokens=runs.tokens, seconds=runs.seconds, tokens_per_s=runs.tokens_per_s,
               tokens_per_s_std=_std(runs.repeat_tokens_per_s), speedup=1.0, target_calls=runs.target_calls / per,
               draft_calls=runs.draft_calls / per, group=group)


def figures_for(impl: Impl, runs: Runs, base: Runs, costs: StepCosts, k: int) -> Any:
    """``derive_figures`` of the chosen implementation for one configuration."""
    return impl.derive_figures(
        k, spec_tokens=runs.tokens, spec_seconds=runs.seconds, base_tokens=base.tokens,
        base_seconds=base.seconds, accepted_per_round=runs.accepted_per_round,
        drafted_per_round=runs.drafted_per_round, target_step_s=costs.target_step_s,
        draft_step_s=costs.draft_step_s, verify_s=costs.verify_s[k])


def _identical(label: str, runs: Runs, mismatches: list[Mismatch], greedy: bool) -> bool | None:
    if not greedy:
        return None
    return not any(m.label == label for m in mismatches)


def run_bench(
    draft: Any,
    target: Any,
    prompts: Sequence[list[int]],
    settings: BenchSettings,
    impl: Impl,
    *,
    models: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> BenchReport:
    """Measure everything and return the report (prints nothing; see :func:`render`).

    Order: warm-up; per-token costs (c, v(K)); the interleaved sweep of the
    baseline, every K (and the adaptive decoder); the greedy identity check;
    mlx-lm's implementation at the best K; the simulated adaptive workloads.
    """
    settings.check()
    if not prompts or any(len(p) < 1 for p in prompts):
        raise ValueError("the bench needs at least one prompt of at least one token")
    started = time.perf_counter()
    prompts = [list(p) for p in prompts]
    progress = progress or Progress(disable=True)
    n_configs = 1 + len(settings.ks) + int(settings.adaptive)
    sweep_steps = settings.repeats * len(prompts) * n_configs
    mlx_steps = 2 + 2 * settings.repeats * len(prompts) if settings.compare_mlx_lm else 0
    sim_steps = len(SIM_WORKLOADS) * (SIM_K_MAX + 1) if settings.adaptive else 0
    cost_steps = 1 + settings.repeats
    task = progress.add_task("warming up", total=n_configs + cost_steps + sweep_steps + mlx_steps + sim_steps)

    def step(label: str) -> None:
        progress.update(task, advance=1, description=label)

    # Costs first (the adaptive speculator needs c and v), after one warm-up.
    plain_configs = make_configs(impl, draft, target, settings.ks, settings.temperature)
    warm = min(settings.warmup_tokens, settings.max_tokens)
    warm_up(plain_configs, prompts[0], warm, settings.seed, settings.temperature)
    progress.update(task, advance=len(plain_configs), description="measuring c and v(K)")
    cost_ks = sorted(set(settings.ks) | ({ADAPTIVE_INITIAL_K} if settings.adaptive else set()))
    context = realistic_context(prompts[0], settings.max_tokens)
    sessions = [measure_costs(draft, target, context, cost_ks, repeats=settings.cost_repeats)]
    costs = sessions[0]
    step("measuring c and v(K)")

    def remeasure(repeat: int) -> None:
        # Costs again after every repeat: the load of a shared machine changes during a run,
        # and c, v should see the same conditions as the generations they explain.
        sessions.append(measure_costs(draft, target, context, cost_ks, repeats=settings.cost_repeats))
        step("measuring c and v(K)")

    speculator_costs = adaptive_costs(costs.c(), *verify_line(costs)) if settings.adaptive else None
    configs = make_configs(impl, draft, target, settings.ks, settings.temperature, speculator_costs)
    if settings.adaptive:
        warm_up(configs[-1:], prompts[0], warm, settings.seed, settings.temperature)
        step(ADAPTIVE)
    runs = run_sweep(configs, prompts, max_tokens=settings.max_tokens, repeats=settings.repeats,
                     seed=settings.seed, temperature=settings.temperature, on_step=step, after_repeat=remeasure)
    costs = combine_costs(sessions)

    greedy = settings.temperature == 0
    mismatches = find_mismatches(runs) if greedy else []
    for m in mismatches[:20]:  # diagnose the first few: near-tie or bug?
        ref = runs[BASELINE].outputs[(m.repeat, m.prompt_index)]
        m.diagnose(target, prompts[m.prompt_index] + ref[: m.position])

    base = runs[BASELINE]
    rows = [_baseline_row(base, "sweep")]
    for k in settings.ks:
        r = runs[f"K={k}"]
        rows.append(_row_from_figures(r, figures_for(impl, r, base, costs, k), "sweep",
                                      _identical(r.label, r, mismatches, greedy)))
    sweep_rows = [row for row in rows if row.k]
    best_k = max(sweep_rows, key=lambda row: row.speedup).k if sweep_rows else None

    if settings.adaptive:
        r = runs[ADAPTIVE]
        # Its K varies; the prediction uses the mean K of its drafting rounds, rounded.
        used = [d for d in r.drafted_per_round if d > 0]
        k_mean = round(statistics.fmean(used)) if used else 0
        add_verify_cost(costs, draft, target, realistic_context(prompts[0], settings.max_tokens), k_mean,
                        repeats=settings.cost_repeats)
        row = _row_from_figures(r, figures_for(impl, r, base, costs, k_mean), "adaptive",
                                _identical(r.label, r, mismatches, greedy))
        row.k = k_mean
        rows.append(row)

    mlx_mismatches: list[Mismatch] = []
    if settings.compare_mlx_lm:
        k_ref = best_k or max(settings.ks) or 1
        add_verify_cost(costs, draft, target, realistic_context(prompts[0], settings.max_tokens), k_ref,
                        repeats=settings.cost_repeats)
        mlx = mlx_lm_configs(draft, target, k_ref, settings.temperature)
        warm_up(mlx, prompts[0], warm, settings.seed, settings.temperature)
        step("mlx-lm warm-up")
        step("mlx-lm warm-up")
        mlx_runs = run_sweep(mlx, prompts, max_tokens=settings.max_tokens, repeats=settings.repeats,
                             seed=settings.seed, temperature=settings.temperature, on_step=step)
        mlx_base, mlx_spec = mlx_runs[mlx[0].label], mlx_runs[mlx[1].label]
        # mlx-lm is checked against OUR baseline too (three implementations, one answer), but
        # its differences are reported, not failed on: they are not the student's code.
        if greedy:
            mlx_mismatches = find_mismatches({BASELINE: base, **mlx_runs})
            for m in mlx_mismatches[:10]:
                ref = base.outputs[(m.repeat, m.prompt_index)]
                m.diagnose(target, prompts[m.prompt_index] + ref[: m.position])
        brow = _baseline_row(mlx_base, "mlx-lm")
        brow.speedup = mlx_base.tokens_per_s / base.tokens_per_s
        brow.identical = _identical(mlx_base.label, mlx_base, mlx_mismatches, greedy)
        rows.append(brow)
        rows.append(_row_from_figures(mlx_spec, figures_for(impl, mlx_spec, mlx_base, costs, k_ref), "mlx-lm",
                                      _identical(mlx_spec.label, mlx_spec, mlx_mismatches, greedy)))

    simulated = []
    if settings.adaptive:
        simulated = simulate_adaptive(impl, costs.c(), verify_cost_model(costs), tokens=settings.sim_tokens,
                                      seeds=settings.sim_seeds, on_step=step)

    return BenchReport(
        settings=settings, blas=blas_name(), machine=machine_info(), impl=impl.name, models=models or {},
        n_prompts=len(prompts), costs=costs, cost_sessions=sessions, rows=rows, mismatches=mismatches,
        mlx_lm_mismatches=mlx_mismatches, simulated=simulated,
        best_k=best_k, seconds=time.perf_counter() - started,
    )
