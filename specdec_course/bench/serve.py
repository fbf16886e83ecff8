"""``specdec bench --serve``: speculative serving engines under load, against mlx-lm (Week 5).

The bench runs every engine of :func:`.serve_engines.engine_roster` on the same requests
(the held-out prompts, cycled) through :func:`.serve_trace.run_trace`: first a saturated
queue (every request at t = 0: the engines' capacity), then Poisson arrivals at fractions of
the saturated request rate of ``continuous target-only`` (mlx-lm's when that engine is not
written yet), one seed for all loads, so every load replays the same gaps, scaled. The
arrivals and every figure come from the student's Week 5 Day 3 functions
(``specdec.servestats``). Every request's tokens are checked against single-sequence greedy
decoding of the target (mlx-lm's ``generate_step``, once per prompt, not timed).
``serve.json``, ``serve_tradeoff.png`` (throughput against ITL p50, one point per load) and
``serve_speedup.png`` (each engine against mlx-lm's ``BatchGenerator``, per load) are written
under ``--out``.

May import: ``core``, ``api`` (and the student package ``specdec``).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
from rich.console import Console
from rich.table import Table

from specdec_course.api.serving import ServingEngine
from specdec_course.bench.frame import print_machine, print_skipped, probe, progress, write_report
from specdec_course.bench.serve_engines import MLX, TARGET_ONLY, engine_roster
from specdec_course.bench.serve_trace import make_trace, run_trace
from specdec_course.core.blas import blas_name

#: The command's defaults (``--quick`` for a smoke run of a minute or two).
REQUESTS, MAX_TOKENS, SLOTS, KS, LOADS = 64, 64, 8, (1, 2, 3), (0.15, 0.35, 0.7)
#: Interleaved passes over every engine per load (figures are their medians), and the timed
#: rounds behind each entry of the cost table.
REPEATS, COST_REPEATS = 2, 9
QUICK = {
    "requests": 8,
    "max_tokens": 16,
    "ks": (2,),
    "loads": (0.5,),
    "cost_repeats": 1,
    "repeats": 1,
}
SATURATED = "saturated"


@dataclass
class ServeRow:
    """One engine under one load."""

    engine: str
    load: str  # "saturated" or "0.30x"
    rate: float | None  # arrivals per second (None: saturated)
    elapsed_s: float
    throughput: float
    ttft_p50: float
    ttft_p99: float
    itl_p50: float
    itl_p99: float
    requests: int
    tokens: int
    steps: int
    mismatched: int


@dataclass
class ServeReport:
    """Everything ``--serve`` measured."""

    impl: str
    blas: str
    device: str
    machine: str
    load_average: str
    requests: int
    max_tokens: int
    slots: int
    ks: list[int]
    seed: int
    loads: list[str] = field(default_factory=list)
    #: Arrivals per second of each Poisson load, and the saturated rate they scale.
    rates: dict[str, float] = field(default_factory=dict)
    saturated_rate: float = 0.0
    rate_from: str = ""
    costs: dict[str, Any] | None = None
    rows: list[ServeRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def row(self, engine: str, load: str) -> ServeRow | None:
        """The row of ``engine`` under ``load``."""
        return next((r for r in self.rows if r.engine == engine and r.load == load), None)


def _warm_up(factory: Callable[[], ServingEngine], prompt: list[int]) -> None:
    engine = factory()
    for _ in range(2):
        engine.submit(list(prompt), 4)
    while engine.has_work():
        engine.step()
    getattr(engine, "close", lambda: None)()


def run_serve_bench(
    draft: Any,
    target: Any,
    prompts: Sequence[list[int]],
    *,
    requests: int = REQUESTS,
    max_tokens: int = MAX_TOKENS,
    slots: int = SLOTS,
    ks: Sequence[int] = KS,
    loads: Sequence[float] = LOADS,
    rates: Sequence[float] | None = None,
    seed: int = 0,
    repeats: int = REPEATS,
    cost_repeats: int = COST_REPEATS,
    impl: str = "src",
    log: Callable[[str], None] = print,
    console: Console | None = None,
) -> ServeReport:
    """Run every engine on the saturated trace, then on Poisson traces; return the figures.

    ``loads`` are fractions of the saturated request rate; ``rates`` (arrivals per second)
    replace them when given. Each load runs every engine ``repeats`` times, the engines'
    order rotated each pass (a slow minute of a shared machine then hits every engine), and
    each figure of a row is the median over the passes.
    """
    from specdec.servestats import poisson_arrivals, request_latency, summarize
    from specdec_course.bench.batch import target_greedy
    from specdec_course.bench.serve_costs import measure_batch_costs
    from specdec_course.bench.settings import load_line
    from specdec_course.bench.sweep import rotated

    # The student's measurement first, on made-up numbers: a stub stops the bench here.
    summarize([request_latency(0.0, [0.1, 0.3], [1, 2])], 1.0)
    poisson_arrivals(1.0, 2, seed=seed)
    console = console or Console()
    costs: list[Any] = []

    def measured_costs() -> Any:
        if not costs:
            log(f"measuring the cost table (B = 1 .. {slots}, K = 0 .. {max(ks)})")
            costs.append(
                measure_batch_costs(
                    draft, target, max_rows=slots, k_max=max(ks), repeats=cost_repeats
                )
            )
        return costs[0]

    factories = engine_roster(draft, target, slots=slots, ks=ks, costs=measured_costs)
    skipped = probe({name: (lambda f=f: _warm_up(f, prompts[0])) for name, f in factories.items()})
    for s in skipped:
        del factories[s.row]
    report = ServeReport(
        impl=impl,
        blas=blas_name(),
        device=f"{mx.default_device()} (mlx {mx.__version__})",
        machine=f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs",
        load_average=load_line(),
        requests=requests,
        max_tokens=max_tokens,
        slots=slots,
        ks=list(ks),
        seed=seed,
        skipped=[s.line() for s in skipped],
    )
    if costs:
        report.costs = {
            "draft_step": list(costs[0].draft_step),
            "verify": [list(v) for v in costs[0].verify],
        }
    distinct = sorted({tuple(p) for p in prompts[:requests]}, key=lambda p: prompts.index(list(p)))
    greedy = dict(
        zip(distinct, target_greedy(target, [list(p) for p in distinct], max_tokens), strict=True)
    )

    def measure(
        label: str, rate: float | None, arrivals: list[float], step: Callable[[str], None]
    ) -> None:
        trace = make_trace(prompts, arrivals, max_tokens)
        reference = [greedy[tuple(r.prompt)] for r in trace]
        report.loads.append(label)
        runs: dict[str, list[Any]] = {name: [] for name in factories}
        for rep in range(repeats):
            for name in rotated(list(factories), rep):
                runs[name].append(run_trace(factories[name], trace, reference=reference))
                step(f"{name}, {label}")
        for name, results in runs.items():

            def med(get: Callable[[Any], float], results: list[Any] = results) -> float:
                return statistics.median(get(r) for r in results)

            report.rows.append(
                ServeRow(
                    name,
                    label,
                    rate,
                    med(lambda r: r.elapsed_s),
                    med(lambda r: r.figures.throughput),
                    med(lambda r: r.figures.ttft_p50),
                    med(lambda r: r.figures.ttft_p99),
                    med(lambda r: r.figures.itl_p50),
                    med(lambda r: r.figures.itl_p99),
                    results[0].figures.requests,
                    results[0].figures.tokens,
                    int(med(lambda r: r.steps)),
                    max(r.mismatched or 0 for r in results),
                )
            )

    n_loads = len(rates) if rates is not None else len(loads)
    with progress(console, repeats * len(factories) * (1 + n_loads), "serving") as step:
        measure(SATURATED, None, poisson_arrivals(math.inf, requests), step)
        base = report.row(TARGET_ONLY, SATURATED) or report.row(MLX, SATURATED)
        report.rate_from = base.engine
        report.saturated_rate = base.requests / base.elapsed_s
        log(f"saturated: {report.saturated_rate:.2f} requests/s ({base.engine})")
        chosen = (
            [(f"{r:.2f}/s", r) for r in rates]
            if rates is not None
            else [(f"{x:.2f}x", x * report.saturated_rate) for x in loads]
        )
        for label, rate in chosen:
            report.rates[label] = rate
            measure(label, rate, poisson_arrivals(rate, requests, seed=seed), step)
            log(f"load {label} ({rate:.2f} requests/s) done ({load_line()})")
    report.load_average = f"{report.load_average} before, {load_line()} after"
    return report


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    ms = 1e3 * seconds
    return f"{ms:.1f}" if ms < 9.95 else f"{ms:.0f}"


def render(console: Console, report: ServeReport) -> None:
    """One table per load, the machine line first."""
    print_machine(console, report.blas, report.device, report.machine)
    console.print(
        f"--impl {report.impl}; greedy, {report.requests} requests x {report.max_tokens} tokens, "
        f"{report.slots} slots, seed {report.seed}; {report.load_average}"
    )
    wide = console if console.is_terminal else Console(file=console.file, width=150)
    for load in report.loads:
        rate = report.rates.get(load)
        if rate is None:
            title = f"saturated queue: all {report.requests} requests waiting at t = 0"
        else:
            of = f" = {load} the saturated rate" if load.endswith("x") else ""
            title = f"load {load}: Poisson arrivals, {rate:.2f} requests/s{of}"
        table = Table(title=title)
        cols = ("engine", "tok/s", "vs mlx-lm", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99")
        for col in (*cols, "ITL vs mlx-lm", "diff"):
            table.add_column(col, justify="left" if col == "engine" else "right")
        mlx = report.row(MLX, load)
        for r in (r for r in report.rows if r.load == load):
            table.add_row(
                r.engine,
                f"{r.throughput:.1f}",
                f"{r.throughput / mlx.throughput:.2f}x" if mlx else "-",
                _ms(r.ttft_p50),
                _ms(r.ttft_p99),
                _ms(r.itl_p50),
                _ms(r.itl_p99),
                f"{mlx.itl_p50 / r.itl_p50:.2f}x" if mlx and r.itl_p50 > 0 else "-",
                str(r.mismatched),
            )
        wide.print(table)
    console.print(
        "TTFT and ITL in ms (p50 / p99; a speculative chunk's gap spread over its tokens). "
        "vs mlx-lm = tok/s / the mlx-lm BatchGenerator's; ITL vs mlx-lm = its ITL p50 / "
        "this engine's (above 1: tokens come faster). diff = requests whose tokens differ "
        "from single-sequence greedy decoding of the target (0 = lossless)."
    )
    if report.loads[1:]:
        console.print(
            f"Poisson loads scale the saturated rate of {report.rate_from}: "
            f"{report.saturated_rate:.2f} requests/s."
        )
    print_skipped(console, report.skipped)


def bench_serve(
    console: Console,
    *,
    draft: str | None,
    target: str | None,
    prompts_file: str | None,
    requests: int | None,
    max_tokens: int | None,
    slots: int,
    ks: Sequence[int] | None,
    loads: Sequence[float] | None,
    rates: Sequence[float] | None,
    seed: int,
    quick: bool,
    out: str | Path,
    impl: str | None,
) -> int:
    """``specdec bench --serve``: load, run, print, write ``serve.json`` and the plots."""
    from specdec_course.bench.serve_plot import plot_speedup, plot_tradeoff
    from specdec_course.bench.settings import measure_with_impl

    small = QUICK if quick else {}
    ks = [k for k in (ks or small.get("ks", KS)) if k > 0]
    if not ks:
        console.print("[red]--serve needs at least one K >= 1 (--k 1 2 3)[/red]")
        return 2
    requests = requests or small.get("requests", REQUESTS)
    report = measure_with_impl(
        console,
        impl,
        draft,
        target,
        prompts_file,
        requests,
        lambda name, draft_model, target_model, prompts: run_serve_bench(
            draft_model,
            target_model,
            prompts,
            requests=requests,
            max_tokens=max_tokens or small.get("max_tokens", MAX_TOKENS),
            slots=slots,
            ks=sorted(set(ks)),
            loads=loads or small.get("loads", LOADS),
            rates=rates,
            seed=seed,
            repeats=small.get("repeats", REPEATS),
            cost_repeats=small.get("cost_repeats", COST_REPEATS),
            impl=name,
            log=lambda m: console.print(m, style="dim"),
            console=console,
        ),
    )
    if isinstance(report, int):
        return report
    render(console, report)
    write_report(report, out, "serve.json")
    out = Path(out)
    pngs = [
        plot_tradeoff(report, out / "serve_tradeoff.png"),
        plot_speedup(report, out / "serve_speedup.png"),
    ]
    console.print(f"wrote {out / 'serve.json'}, " + ", ".join(str(p) for p in pngs))
    return 1 if any(r.mismatched for r in report.rows if r.engine != MLX) else 0
