"""Printing the bench report as rich tables."""

from __future__ import annotations

import math

from rich import box
from rich.console import Console
from rich.table import Table

from specdec_course.bench.report import BenchReport
from specdec_course.bench.settings import ADAPTIVE_BAR, BASELINE, PIPED_WIDTH
from specdec_course.core.blas import mlx_device


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:{spec}}{suffix}"


def _same(identical: bool | None) -> str:
    return {True: "[green]yes[/green]", False: "[red]NO[/red]", None: "n/a"}[identical]


def render(console: Console, report: BenchReport) -> None:
    """Print the report as rich tables with the BLAS line."""
    if not console.is_terminal and console.width < PIPED_WIDTH:
        console.width = PIPED_WIDTH  # piped into a file rich assumes 80 columns; the table needs more
    s = report.settings
    costs = report.costs
    console.print(f"[bold]MLX device:[/bold] {mlx_device()}   "
                  f"[bold]BLAS:[/bold] {report.blas}   [bold]machine:[/bold] {report.machine['machine']} "
                  f"{report.machine['cpu_count']} CPUs, load {report.machine.get('load_average', '?')}   "
                  f"[bold]impl:[/bold] {report.impl}")
    console.print(f"{report.n_prompts} prompts x {s.repeats} repeat(s), {s.max_tokens} new tokens each (EOS "
                  f"ignored), T = {s.temperature}; per-token costs at a cache of {costs.context_len} tokens: "
                  f"target {costs.target_step_s * 1e3:.2f} ms, draft {costs.draft_step_s * 1e3:.2f} ms, "
                  f"c = {costs.c():.3f}")
    if len(report.cost_sessions) > 1:
        k_top = max(costs.verify_s)
        cs = [x.c() for x in report.cost_sessions]
        vs = [x.v(k_top) for x in report.cost_sessions if k_top in x.verify_s]
        console.print(f"costs measured {len(report.cost_sessions)} times during the run (medians used): "
                      f"c {min(cs):.3f}-{max(cs):.3f}, v({k_top}) {min(vs):.2f}-{max(vs):.2f}")
    table = Table(title="speculative decoding vs target-only: measured and predicted", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    columns = ("K", "tokens/s", "speedup", "target calls", "draft calls", "α̂", "accepted /round", "c", "v",
               "predicted S", "measured /predicted", "identical")
    for col in columns:
        table.add_column(col, justify="right")
    for row in report.rows:
        if row.group == "sweep":
            name = BASELINE if row.k is None else str(row.k)
        elif row.group == "adaptive":
            name = f"adaptive (mean K≈{row.k})"
        else:
            name = row.label
        tps = _fmt(row.tokens_per_s, ".1f")
        if row.tokens_per_s_std is not None:
            tps += f" ± {row.tokens_per_s_std:.1f}"
        style = "bold green" if row.group == "sweep" and row.k == report.best_k and row.k else None
        table.add_row(
            name, tps, _fmt(row.speedup, ".2f", "x"), _fmt(row.target_calls, ".1f"), _fmt(row.draft_calls, ".1f"),
            _fmt(row.alpha, ".3f"), _fmt(row.mean_accepted, ".2f"), _fmt(row.c, ".3f"), _fmt(row.v, ".2f"),
            _fmt(row.predicted_speedup, ".2f", "x"), _fmt(row.measured_over_predicted, ".2f"),
            _same(row.identical), style=style, end_section=row.group == "sweep" and row.k == max(s.ks),
        )
    console.print(table)
    console.print("calls are per generation (prefill included); α̂ = accepted / (accepted + rejected rounds); "
                  "predicted S = E(α̂, K) / (K·c + v); mlx-lm rows: speedup over mlx-lm's own generate_step")
    if report.greedy:
        if report.mismatches and report.ok:
            console.print(f"[yellow]{len(report.mismatches)} greedy output(s) differ from target-only "
                          "decoding, each first at a float near-tie (lossless up to rounding):[/yellow]")
            for m in report.mismatches[:10]:
                console.print(f"  [yellow]{m.describe()}[/yellow]")
        elif report.mismatches:
            console.print(f"[bold red]FAIL: {len(report.mismatches)} greedy output(s) differ from target-only "
                          f"decoding - speculative decoding must be lossless:[/bold red]")
            for m in report.mismatches[:10]:
                console.print(f"  [red]{m.describe()}[/red]")
        else:
            console.print(f"[green]identical output:[/green] every K matches target-only decoding on all "
                          f"{report.n_prompts} prompts x {s.repeats} repeat(s)")
        for m in report.mlx_lm_mismatches[:5]:
            console.print(f"  [yellow]mlx-lm differs: {m.describe()}[/yellow]")
    else:
        console.print("identical output: not expected at T > 0 (each decoder samples the target's distribution)")
    if report.simulated:
        sim = Table(title="AdaptiveSpeculator vs the best fixed K on simulated workloads (measured c and v(K))",
                    box=box.SIMPLE_HEAD, pad_edge=False)
        sim.add_column("workload", justify="left")
        for col in ("best fixed K", "its speedup", "adaptive speedup", "mean K used",
                    f"adaptive / best (bar {ADAPTIVE_BAR})"):
            sim.add_column(col, justify="right")
        for r in report.simulated:
            verdict = "green" if r.ratio >= ADAPTIVE_BAR else "yellow"
            sim.add_row(r.workload, str(r.best_k), f"{r.best_fixed_speedup:.2f}x", f"{r.adaptive_speedup:.2f}x",
                        f"{r.adaptive_mean_k:.1f}", f"[{verdict}]{r.ratio:.3f}[/{verdict}]")
        console.print(sim)
    console.print(f"[dim]bench took {report.seconds:.0f} s[/dim]")
