"""``specdec bench --week4``: the Week 4 rows side by side, greedy, in one run.

Rows: target-only (the Week 1 Day 2 baseline), the Week 1 loop (``SpeculativeDecoder``),
the fast loop (``fast_generate``, Week 4 Day 3), prompt lookup (``NgramDrafter``), prompt
lookup with the draft model as fallback (``FallbackDrafter``), a token tree
(``tree_speculative_generate``, Week 4 Day 2: branch 2, depth K // 2, so its verify width
1 + 2 * (K // 2) equals the Week 1 loop's K + 1 for even K), and mlx-lm's own
``generate_step`` / ``speculative_generate_step`` at the same K. All come from the chosen
``--impl`` except mlx-lm's; every output is checked against target-only greedy decoding.

A shared machine's speed drifts within minutes, so every repeat runs every row once over
all prompts, in an order rotated from repeat to repeat, and a row's speedup is the median
over repeats of (target-only time / row time) *within* the repeat (the house style of
:mod:`specdec_course.bench.mlxlm_speed`). The two Week 4 goal ratios are printed last:
fast loop vs target-only (goal >= 2.0x) and fast loop vs mlx-lm at the same K (>= 1.1x).

Run: ``uv run specdec bench --week4`` (K = 6; ``--week4 4`` for K = 4; ``--impl NAME`` picks
the implementation measured).
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

from specdec_course.bench.frame import (
    goal_line,
    print_machine,
    print_skipped,
    probe,
    progress,
    write_report,
)
from specdec_course.bench.mlxlm import mlx_lm_rounds
from specdec_course.bench.settings import load_line, measure_with_impl
from specdec_course.bench.sweep import rotated
from specdec_course.core.blas import blas_name
from specdec_course.core.paths import SMOLLM2_NAMES

#: The Week 4 goals.
GOAL_VS_TARGET = 2.0
GOAL_VS_MLX_LM = 1.1
BASE = "target-only"
#: The speedups' base when the Week 1 Day 2 baseline is not written yet.
MLX_BASE = "mlx-lm target-only"
FAST = "fast loop"
MLX_SPEC = "mlx-lm speculative"
#: The tree row's tokens per depth (Week 4 Day 2); its depth is K // TREE_BRANCH.
TREE_BRANCH = 2


def tree_row_name(k: int) -> str:
    """The tree row's name at lookahead ``k``: ``"tree 2x3"`` for K = 6 (branch x depth)."""
    return f"tree {TREE_BRANCH}x{k // TREE_BRANCH}"


@dataclass
class Run:
    """One generation's tokens and counts (a GenerationResult or mlx-lm's, reduced)."""

    tokens: list[int]
    target_calls: int
    accepted: list[int] = field(default_factory=list)
    drafted: list[int] = field(default_factory=list)


@dataclass
class Row:
    """One configuration's figures over all prompts and repeats."""

    name: str
    k: int | None
    seconds: float
    tokens: int
    tokens_per_s: float
    speedup: float
    speedup_low: float
    speedup_high: float
    target_calls_per_token: float
    accepted_per_round: float
    mismatches: int


@dataclass
class Week4Report:
    """Everything one ``--week4`` run measured (serialisable with ``asdict``)."""

    impl: str
    blas: str
    device: str
    machine: str
    load: str
    k: int
    n_prompts: int
    max_tokens: int
    repeats: int
    rows: list[Row] = field(default_factory=list)
    fast_vs_mlx_lm: float = 0.0
    fast_vs_mlx_lm_range: tuple[float, float] = (0.0, 0.0)
    #: The row the speedups (and the diff column) are measured against.
    base: str = BASE
    #: Rows not measured, each with the task that unlocks it.
    skipped: list[str] = field(default_factory=list)

    def row(self, name: str) -> Row | None:
        """The row called ``name`` (None when it was skipped)."""
        return next((r for r in self.rows if r.name == name), None)


def _reduce(result: Any) -> Run:
    return Run(
        list(result.tokens),
        result.target_calls,
        list(result.accepted_per_round),
        list(result.drafted_per_round),
    )


def configurations(
    draft: Any, target: Any, k: int
) -> dict[str, tuple[int | None, Callable[..., Run]]]:
    """Name -> (K, ``run(prompt, max_tokens)``) for every row, from the active ``specdec``."""
    from mlx_lm.generate import generate_step, speculative_generate_step

    from specdec.baseline import autoregressive_generate
    from specdec.decoder import SpeculativeDecoder
    from specdec.fastloop import fast_generate
    from specdec.lookup import FallbackDrafter, ModelDrafter, lookup_generate
    from specdec.ngram import NgramDrafter
    from specdec.trees import tree_speculative_generate

    vocab = target.args.vocab_size

    def mlx_base(prompt: list[int], n: int) -> Run:
        toks = [int(t) for t, _ in generate_step(mx.array(prompt, mx.uint32), target, max_tokens=n)]
        return Run(toks, len(toks))

    def mlx_spec(prompt: list[int], n: int) -> Run:
        toks, flags = [], []
        for t, _, from_draft in speculative_generate_step(
            mx.array(prompt, mx.uint32), target, draft, num_draft_tokens=k, max_tokens=n
        ):
            toks.append(int(t))
            flags.append(bool(from_draft))
        accepted, drafted = mlx_lm_rounds(flags, k, n)
        return Run(toks, 1 + len(accepted), accepted, drafted)

    return {
        BASE: (None, lambda p, n: _reduce(autoregressive_generate(target, p, n))),
        "Week 1 loop": (
            k,
            lambda p, n: _reduce(SpeculativeDecoder(draft, target, k).generate(p, n)),
        ),
        FAST: (k, lambda p, n: _reduce(fast_generate(draft, target, p, n, lookahead=k))),
        "n-gram": (
            k,
            lambda p, n: _reduce(
                lookup_generate(target, p, n, drafter=NgramDrafter(vocab), lookahead=k)
            ),
        ),
        "n-gram + model": (
            k,
            lambda p, n: _reduce(
                lookup_generate(
                    target,
                    p,
                    n,
                    drafter=FallbackDrafter(NgramDrafter(vocab), ModelDrafter(draft)),
                    lookahead=k,
                )
            ),
        ),
        # Equal verify width: 1 + TREE_BRANCH * depth nodes against the Week 1 loop's K + 1.
        tree_row_name(k): (
            TREE_BRANCH * (k // TREE_BRANCH),
            lambda p, n: _reduce(
                tree_speculative_generate(
                    draft, target, p, n, branch=TREE_BRANCH, depth=k // TREE_BRANCH
                )
            ),
        ),
        MLX_BASE: (None, mlx_base),
        MLX_SPEC: (k, mlx_spec),
    }


def run_week4(
    draft: Any,
    target: Any,
    prompts: Sequence[list[int]],
    *,
    k: int,
    max_tokens: int,
    repeats: int,
    impl: str,
    log: Callable[[str], None] = print,
    console: Console | None = None,
) -> Week4Report:
    """Time every row ``repeats`` times (interleaved, rotated) and return the figures.

    A row whose code is not written yet is skipped and listed (``skipped``); without the
    Week 1 Day 2 baseline the speedups are against mlx-lm's target-only decoding.
    """
    configs = configurations(draft, target, k)
    # Warm-up (kernel set-up and allocation), not timed; it also finds the unwritten rows.
    warm = {name: (lambda run=run: run(prompts[0], 8)) for name, (_, run) in configs.items()}
    skipped = probe(warm)
    configs = {name: configs[name] for name in warm}
    names = list(configs)
    base = BASE if BASE in configs else MLX_BASE
    secs: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, list[Run]] = {}
    loads = [load_line()]
    with progress(console or Console(), repeats * len(names), "measuring") as step:
        for rep in range(repeats):
            for name in rotated(names, rep):
                run = configs[name][1]
                t0 = time.perf_counter()
                outputs[name] = [run(p, max_tokens) for p in prompts]
                secs[name].append(time.perf_counter() - t0)
                step(name)
            loads.append(load_line())
            times = ", ".join(f"{n} {secs[n][-1]:.2f} s" for n in names)
            log(f"repeat {rep + 1}/{repeats}: {times}")

    device = mx.default_device()
    report = Week4Report(
        impl=impl,
        blas=blas_name(),
        device=f"{device} ({mx.__version__})",
        machine=f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs",
        load=f"{loads[0]} before, {loads[-1]} after",
        k=k,
        n_prompts=len(prompts),
        max_tokens=max_tokens,
        repeats=repeats,
        base=base,
        skipped=[s.line() for s in skipped],
    )
    reference = [r.tokens for r in outputs[base]]
    for name in names:
        runs = outputs[name]
        produced = sum(len(r.tokens) for r in runs)
        ratios = [b / t for b, t in zip(secs[base], secs[name], strict=True)]
        rounds = [a for r in runs for a in r.accepted]
        mismatches = sum(
            sum(x != y for x, y in zip(r.tokens, ref, strict=False)) + abs(len(r.tokens) - len(ref))
            for r, ref in zip(runs, reference, strict=True)
        )
        t = statistics.median(secs[name])
        report.rows.append(
            Row(
                name=name,
                k=configs[name][0],
                seconds=t,
                tokens=produced,
                tokens_per_s=produced / t,
                speedup=statistics.median(ratios),
                speedup_low=min(ratios),
                speedup_high=max(ratios),
                target_calls_per_token=sum(r.target_calls for r in runs) / max(produced, 1),
                accepted_per_round=sum(rounds) / len(rounds) if rounds else 0.0,
                mismatches=mismatches,
            )
        )
    if FAST in secs:
        vs_mlx = [m / f for m, f in zip(secs[MLX_SPEC], secs[FAST], strict=True)]
        report.fast_vs_mlx_lm = statistics.median(vs_mlx)
        report.fast_vs_mlx_lm_range = (min(vs_mlx), max(vs_mlx))
    return report


def render(console: Console, report: Week4Report) -> None:
    """Print the table, the BLAS/device line and the two goal ratios."""
    print_machine(console, report.blas, report.device, report.machine)
    console.print(
        f"--impl {report.impl}; greedy, {report.max_tokens} new tokens x "
        f"{report.n_prompts} held-out prompts, K = {report.k}, {report.repeats} interleaved "
        f"repeats (medians); {report.load}"
    )
    table = Table(title="Week 4: one run, every drafter and loop")
    for col in (
        "row",
        "K",
        "tok/s",
        f"vs {report.base}",
        "range",
        "target calls/token",
        "accepted/round",
        "diff",
    ):
        table.add_column(col, justify="left" if col == "row" else "right")
    for r in report.rows:
        table.add_row(
            r.name,
            "-" if r.k is None else str(r.k),
            f"{r.tokens_per_s:.1f}",
            f"{r.speedup:.2f}x",
            f"{r.speedup_low:.2f}-{r.speedup_high:.2f}",
            f"{r.target_calls_per_token:.2f}",
            f"{r.accepted_per_round:.2f}",
            str(r.mismatches),
            style="bold green" if r.name == FAST else None,
        )
    # Off a terminal rich assumes 80 columns, which would squeeze the table in logs.
    wide = console if console.is_terminal else Console(file=console.file, width=120)
    wide.print(table)
    console.print(
        f"diff = tokens differing from the {report.base} row's greedy output (0 = lossless; "
        "a non-zero count on a GPU backend is a float near-tie, see the Day 5 chapter)."
    )
    print_skipped(console, report.skipped)
    fast = report.row(FAST)
    if fast is None:
        console.print("(no goal ratios: the fast loop, Week 4 Day 3, is not written yet)")
        return
    lo, hi = report.fast_vs_mlx_lm_range
    for label, value, goal, extra in (
        (
            "fast loop vs target-only",
            fast.speedup,
            GOAL_VS_TARGET,
            f"range {fast.speedup_low:.2f}-{fast.speedup_high:.2f}",
        ),
        (
            f"fast loop vs mlx-lm speculative_generate_step at K={report.k}",
            report.fast_vs_mlx_lm,
            GOAL_VS_MLX_LM,
            f"range {lo:.2f}-{hi:.2f}",
        ),
    ):
        console.print(f"{goal_line(label, value, goal, reference_short=True)}; {extra}")


def bench_week4(
    console: Console,
    *,
    k: int,
    draft: str | None,
    target: str | None,
    prompts_file: str | None,
    num_prompts: int,
    max_tokens: int,
    repeats: int,
    temperature: float,
    out: str | Path,
    impl: str | None,
) -> int:
    """``specdec bench --week4``: load, run, print, and write ``week4.json`` under ``out``."""
    if temperature != 0:
        console.print(
            "[red]--week4 compares greedy outputs token for token: use --temperature 0[/red]"
        )
        return 2
    if k < 1 or num_prompts < 1 or max_tokens < 1 or repeats < 1:
        console.print(
            "[red]--week4 K, --num-prompts, --max-tokens and --repeats must be >= 1[/red]"
        )
        return 2
    if draft is None and target in SMOLLM2_NAMES:  # no draft model: the prompt-lookup rows
        from specdec_course.bench.week4_smollm2 import bench_smollm2

        return bench_smollm2(console, target=target, k=k, num_prompts=num_prompts,
                             max_tokens=max_tokens, repeats=repeats, out=out, impl=impl)
    report = measure_with_impl(
        console,
        impl,
        draft,
        target,
        prompts_file,
        num_prompts,
        lambda name, draft_model, target_model, prompts: run_week4(
            draft_model,
            target_model,
            prompts,
            k=k,
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
    path = write_report(report, out, "week4.json")
    console.print(f"wrote {path}")
    return 1 if any(r.mismatches for r in report.rows if not r.name.startswith("mlx-lm")) else 0
