"""``specdec bench --batch 1 2 4 8 16``: where batched speculative decoding pays (Week 3).

For every batch size B (the first B prompts, cycled if there are fewer) and K:

* **batched spec K** - ``batched_speculative_generate`` (Week 3 Day 3) on all B rows at once;
* **sequential spec K** - B single-row ``SpeculativeDecoder`` runs one after another (each
  prompt is timed alone once per repeat; B's time is the sum over its first B prompts);
* **batched target** - the Week 3 Day 1 ``batched_generate`` (own loop) and mlx-lm's
  ``batch_generate``: target-only decoding of all rows at once.

Every output, the sequential runs' included, is checked per row against mlx-lm's single-row
target-only greedy decoding (``generate_step``, run once and not timed), so no row is checked
against the student's own code. Repeats are interleaved in rotated order and
every figure is a median, as in :mod:`specdec_course.bench.week4`. A row whose code is not
written yet is skipped and listed with the task that unlocks it (:mod:`.frame`); the mlx-lm
row always runs. The goal, on the bundled pair with OpenBLAS at B = 8: batched spec >= 5x
the sequential runs and >= 1.5x batched target-only. ``batch.json`` and
``batch_speedup.png`` are written under ``--out``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
from rich.console import Console
from rich.table import Table

from specdec_course.bench.batch_plot import plot
from specdec_course.bench.frame import (
    goal_line,
    print_machine,
    print_skipped,
    probe,
    progress,
    write_report,
)
from specdec_course.bench.settings import load_line, measure_with_impl
from specdec_course.bench.sweep import rotated
from specdec_course.core.blas import blas_name

GOAL_B = 8
GOAL_VS_SEQUENTIAL = 5.0
GOAL_VS_BATCHED_TARGET = 1.5
OWN_TARGET = "batched target (W3D1)"
MLX_TARGET = "batched target (mlx-lm)"


@dataclass
class BatchRow:
    """One configuration at one batch size."""

    name: str
    batch: int
    k: int | None
    seconds: float
    tokens: int
    tokens_per_s: float
    mismatched_rows: int
    accepted_per_round: float = 0.0
    #: Fewest and most rounds a row needed (speculative rows): a batch runs the most,
    #: at full size only for the fewest, because rows that finish leave it.
    rounds: tuple[int, int] = (0, 0)


@dataclass
class BatchReport:
    """Everything ``--batch`` measured."""

    impl: str
    blas: str
    device: str
    machine: str
    load: str
    batches: list[int]
    ks: list[int]
    max_tokens: int
    repeats: int
    rows: list[BatchRow] = field(default_factory=list)
    #: Rows not measured, each with the task that unlocks it.
    skipped: list[str] = field(default_factory=list)

    def row(self, name: str, batch: int) -> BatchRow | None:
        """The row called ``name`` at batch size ``batch``."""
        return next((r for r in self.rows if r.name == name and r.batch == batch), None)

    def best(self, batch: int) -> BatchRow | None:
        """The fastest batched speculative row at ``batch``."""
        rows = [r for r in self.rows if r.batch == batch and r.name.startswith("batched spec")]
        return max(rows, key=lambda r: r.tokens_per_s) if rows else None

    def fastest_row(self, batch: int) -> BatchRow:
        """The faster batched target-only row (own or mlx-lm) at ``batch``."""
        targets = [r for r in (self.row(OWN_TARGET, batch), self.row(MLX_TARGET, batch)) if r]
        return max(targets, key=lambda r: r.tokens_per_s)

    def fastest_target(self, batch: int) -> float:
        """tokens/s of the faster batched target-only row (own or mlx-lm) at ``batch``."""
        return self.fastest_row(batch).tokens_per_s

    def ratios(self, batch: int) -> tuple[float | None, float] | None:
        """(best batched spec vs sequential spec at its K, None if that row was skipped;
        vs the faster batched target), or None without a batched spec row."""
        best = self.best(batch)
        if best is None:
            return None
        seq = self.row(f"sequential spec K={best.k}", batch)
        vs_seq = best.tokens_per_s / seq.tokens_per_s if seq else None
        return vs_seq, best.tokens_per_s / self.fastest_target(batch)


def target_greedy(target: Any, prompts: Sequence[list[int]], max_tokens: int) -> list[list[int]]:
    """mlx-lm's single-row target-only greedy continuation of each prompt (the reference)."""
    from mlx_lm.generate import generate_step

    return [
        [int(t) for t, _ in generate_step(mx.array(p, mx.uint32), target, max_tokens=max_tokens)]
        for p in prompts
    ]


class _NoTokenizer:
    """What mlx-lm's ``batch_generate`` needs of a tokenizer: no EOS (fixed lengths)."""

    eos_token_ids: list[int] = []

    def decode(self, ids: Sequence[int]) -> str:
        return ""


def run_batch_bench(
    draft: Any,
    target: Any,
    prompts: Sequence[list[int]],
    *,
    batches: Sequence[int],
    ks: Sequence[int],
    max_tokens: int,
    repeats: int,
    impl: str,
    log: Callable[[str], None] = print,
    console: Console | None = None,
) -> BatchReport:
    """Time every configuration ``repeats`` times (interleaved, rotated); return the figures."""
    from mlx_lm.generate import batch_generate

    from specdec.batched import batched_speculative_generate
    from specdec.decoder import SpeculativeDecoder
    from specdec.ragged import batched_generate

    console = console or Console()
    top = max(batches)
    pool = [list(prompts[i % len(prompts)]) for i in range(top)]

    def own(b: int) -> Callable[[], list[Any]]:
        return lambda: [r.tokens for r in batched_generate(target, pool[:b], max_tokens)]

    def mlx(b: int) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            out = batch_generate(
                target, _NoTokenizer(), pool[:b], max_tokens=max_tokens, return_token_ids=True
            )
            return out.token_ids

        return run

    def spec(b: int, k: int) -> Callable[[], list[Any]]:
        # The card's call's sibling that keeps each row's statistics (accepted per round).
        return lambda: batched_speculative_generate(
            pool[:b], draft, target, max_tokens, lookahead=k
        )

    # Warm-up (kernel set-up, allocation), not timed. A kind of row whose code is not
    # written yet is skipped (mlx-lm's row always runs).
    kinds = {
        MLX_TARGET: mlx(1),
        OWN_TARGET: own(1),
        "batched spec": spec(min(batches), ks[0]),
        "sequential spec": lambda: SpeculativeDecoder(draft, target, ks[0]).generate(pool[0], 8),
    }
    skipped = probe(kinds)
    configs: dict[tuple[str, int, int | None], Callable[[], list[Any]]] = {}
    for b in batches:
        configs[(MLX_TARGET, b, None)] = mlx(b)
        if OWN_TARGET in kinds:
            configs[(OWN_TARGET, b, None)] = own(b)
        for k in ks if "batched spec" in kinds else ():
            configs[(f"batched spec K={k}", b, k)] = spec(b, k)
    seq_ks = list(ks) if "sequential spec" in kinds else []

    secs: dict[Any, list[float]] = {name: [] for name in configs}
    seq_secs: dict[int, list[list[float]]] = {k: [] for k in seq_ks}
    outputs: dict[Any, Any] = {}
    seq_out: dict[int, list[Any]] = {}
    loads = [load_line()]
    jobs: list[Any] = list(configs) + [("sequential", None, k) for k in seq_ks]
    with progress(console, repeats * len(jobs), "measuring") as step:
        for rep in range(repeats):
            for job in rotated(jobs, rep):
                if job[0] == "sequential":
                    k = job[2]
                    times, results = [], []
                    for p in pool:
                        t0 = time.perf_counter()
                        results.append(SpeculativeDecoder(draft, target, k).generate(p, max_tokens))
                        times.append(time.perf_counter() - t0)
                    seq_secs[k].append(times)
                    seq_out[k] = results
                    step(f"sequential spec K={k}")
                    continue
                t0 = time.perf_counter()
                outputs[job] = configs[job]()
                secs[job].append(time.perf_counter() - t0)
                step(f"{job[0]}, B={job[1]}")
            loads.append(load_line())
            log(f"repeat {rep + 1}/{repeats} done ({loads[-1]})")

    device = mx.default_device()
    report = BatchReport(
        impl=impl,
        blas=blas_name(),
        device=f"{device} (mlx {mx.__version__})",
        machine=f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs",
        load=f"{loads[0]} before, {loads[-1]} after",
        batches=list(batches),
        ks=list(ks),
        max_tokens=max_tokens,
        repeats=repeats,
        skipped=[s.line() for s in skipped],
    )
    reference = target_greedy(target, pool, max_tokens)
    for b in batches:
        want = reference[:b]
        for k in seq_ks:
            runs = seq_out[k][:b]
            t = statistics.median(sum(times[:b]) for times in seq_secs[k])
            produced = sum(len(r.tokens) for r in runs)
            acc = [a for r in runs for a in r.accepted_per_round]
            rounds = [len(r.accepted_per_round) for r in runs]
            report.rows.append(
                BatchRow(
                    f"sequential spec K={k}",
                    b,
                    k,
                    t,
                    produced,
                    produced / t,
                    sum(r.tokens != w for r, w in zip(runs, want, strict=True)),
                    sum(acc) / max(len(acc), 1),
                    (min(rounds), max(rounds)),
                )
            )
        for (name, bb, k), runs in outputs.items():
            if bb != b:
                continue
            tokens = [r.tokens if hasattr(r, "tokens") else list(r) for r in runs]
            acc = [a for r in runs for a in getattr(r, "accepted_per_round", [])]
            rounds = [len(getattr(r, "accepted_per_round", [])) for r in runs]
            t = statistics.median(secs[(name, bb, k)])
            produced = sum(len(x) for x in tokens)
            report.rows.append(
                BatchRow(
                    name,
                    b,
                    k,
                    t,
                    produced,
                    produced / t,
                    sum(x != w for x, w in zip(tokens, want, strict=True)),
                    sum(acc) / len(acc) if acc else 0.0,
                    (min(rounds), max(rounds)) if k is not None else (0, 0),
                )
            )
    return report


def render(console: Console, report: BatchReport) -> None:
    """Print the table, the BLAS/device line and the goal ratios at B = 8."""
    print_machine(console, report.blas, report.device, report.machine)
    console.print(
        f"--impl {report.impl}; greedy, {report.max_tokens} new tokens per row, "
        f"{report.repeats} interleaved repeats (medians); {report.load}"
    )
    table = Table(title="Week 3: batched speculative decoding")
    cols = ("B", "row", "tok/s", "vs sequential", "vs batched target*", "acc/round", "rounds/row")
    for col in (*cols, "diff"):
        table.add_column(col, justify="left" if col == "row" else "right")
    for b in report.batches:
        fastest = report.fastest_target(b)
        for r in sorted((r for r in report.rows if r.batch == b), key=lambda r: r.name):
            seq = report.row(f"sequential spec K={r.k}", b) if r.k is not None else None
            table.add_row(
                str(b),
                r.name,
                f"{r.tokens_per_s:.1f}",
                f"{r.tokens_per_s / seq.tokens_per_s:.2f}x" if seq else "-",
                f"{r.tokens_per_s / fastest:.2f}x",
                f"{r.accepted_per_round:.2f}" if r.k else "-",
                f"{r.rounds[0]}-{r.rounds[1]}" if r.k else "-",
                str(r.mismatched_rows),
                style="bold green" if r is report.best(b) else None,
            )
        table.add_section()
    # Off a terminal rich assumes 80 columns, which would squeeze the table in logs.
    (console if console.is_terminal else Console(file=console.file, width=130)).print(table)
    console.print(
        "diff = rows whose tokens differ from mlx-lm single-row target-only greedy (0 = "
        "lossless; on a GPU a non-zero count can be a float near-tie). rounds/row = the "
        "fewest-most rounds a row needed: a batch runs the most rounds but is full only "
        "for the fewest (finished rows leave), so uneven acceptance leaves a small, "
        "dear tail of rounds."
    )
    used = ", ".join(f"B={b}: {report.fastest_row(b).name}" for b in report.batches)
    console.print(f"* vs batched target = against the faster batched target-only row: {used}")
    print_skipped(console, report.skipped)
    goal = report.ratios(GOAL_B)
    if goal is None:
        why = "no batched spec row ran" if GOAL_B in report.batches else f"add B = {GOAL_B}"
        console.print(f"(goal ratios at B = {GOAL_B}: {why})")
        return
    best = report.best(GOAL_B)
    for label, value, target in (
        (f"batched spec K={best.k} vs {GOAL_B} sequential runs", goal[0], GOAL_VS_SEQUENTIAL),
        (f"batched spec K={best.k} vs batched target-only", goal[1], GOAL_VS_BATCHED_TARGET),
    ):
        if value is None:
            console.print(f"goal at B={GOAL_B}: {label}: not measured (row skipped)")
            continue
        console.print(f"{goal_line(label, value, target, reference_short=True)} at B={GOAL_B}")


def bench_batch(
    console: Console,
    *,
    batches: Sequence[int],
    ks: Sequence[int],
    draft: str | None,
    target: str | None,
    prompts_file: str | None,
    max_tokens: int,
    repeats: int,
    out: str | Path,
    impl: str | None,
) -> int:
    """``specdec bench --batch ...``: load, run, print, write ``batch.json`` and the plot."""
    ks = [k for k in ks if k > 0]
    if not ks:
        console.print("[red]--batch needs at least one K >= 1 (--k 1 2 3)[/red]")
        return 2
    report = measure_with_impl(
        console,
        impl,
        draft,
        target,
        prompts_file,
        max(batches),
        lambda name, draft_model, target_model, prompts: run_batch_bench(
            draft_model,
            target_model,
            prompts,
            batches=sorted(set(batches)),
            ks=ks,
            max_tokens=max_tokens,
            repeats=repeats,
            impl=name,
            log=lambda m: console.print(m, style="dim"),
            console=console,
        ),
    )
    if isinstance(report, int):
        return report
    render(console, report)
    write_report(report, out, "batch.json")
    out = Path(out)
    if report.skipped:  # the plot needs the batched and the sequential spec rows
        console.print(f"wrote {out / 'batch.json'} (no plot: rows were skipped)")
    else:
        png = plot(report, out / "batch_speedup.png")
        console.print(f"wrote {out / 'batch.json'} and {png}")
    mine = [r for r in report.rows if not r.name.startswith(MLX_TARGET)]
    return 1 if any(r.mismatched_rows for r in mine) else 0
