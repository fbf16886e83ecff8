"""``specdec bench --week4 --target smollm2``: prompt lookup on a real chat model, two workloads.

SmolLM2-135M-Instruct (offline, :mod:`specdec_course.api.smollm2`) has no draft model, so its
Week 4 rows are target-only and prompt lookup (``NgramDrafter`` in ``lookup_generate``) on two
prompt sets of ``core/data/smollm2_prompts.json``: *copy-heavy* (summarise, rewrite, edit a
given text: the answer repeats the prompt) and *open chat* (nothing to copy). Greedy; every
output is checked against target-only. Timing follows :mod:`specdec_course.bench.week4`: each
repeat runs every row once, in a rotated order, and a row's speedup is the median over repeats
of target-only time / row time within the repeat.

Goals (CPU, OpenBLAS, float32): lookup >= 2.0x target-only on copy-heavy prompts, and
>= 0.97x on open chat, where it must cost (almost) nothing: a round with no match is a plain
one-token step.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
from rich.console import Console
from rich.table import Table

from specdec_course.bench.frame import print_machine, write_report
from specdec_course.bench.settings import load_line
from specdec_course.bench.sweep import rotated
from specdec_course.core.blas import blas_name

SETS = {"copy_heavy": "copy-heavy", "open_chat": "open chat"}
GOALS = {"copy_heavy": 2.0, "open_chat": 0.97}
BASE = "target-only"
LOOKUP = "prompt lookup"
#: In English prose one repeated token (" the", ",") is weak evidence: a 1-gram match proposes
#: K tokens that are mostly rejected, each such round a (K+1)-token pass. Tails of 2-3 tokens.
MIN_NGRAM = 2


@dataclass
class SetRow:
    """One row of one prompt set, over all its prompts and repeats."""

    prompts: str
    name: str
    k: int | None
    seconds: float
    tokens: int
    tokens_per_s: float
    speedup: float
    speedup_low: float
    speedup_high: float
    target_calls_per_token: float
    rounds_with_proposal: float
    mismatches: int


@dataclass
class SmolLM2Report:
    """Everything one run measured (serialisable with ``asdict``)."""

    impl: str
    model: str
    blas: str
    device: str
    machine: str
    load: str
    k: int
    n_prompts: int
    max_tokens: int
    repeats: int
    rows: list[SetRow] = field(default_factory=list)

    def row(self, prompts: str, name: str) -> SetRow:
        """The row ``name`` of prompt set ``prompts``."""
        return next(r for r in self.rows if r.prompts == prompts and r.name == name)


def configurations(model: Any, eos: set[int], k: int) -> dict[str, Callable[[list[int], int], Any]]:
    """Row name -> ``run(prompt_ids, max_tokens)`` from the active ``specdec``."""
    from specdec.baseline import autoregressive_generate
    from specdec.lookup import lookup_generate
    from specdec.ngram import NgramDrafter

    vocab = model.args.vocab_size
    return {
        BASE: lambda p, n: autoregressive_generate(model, p, n, eos_token_id=eos),
        LOOKUP: lambda p, n: lookup_generate(
            model,
            p,
            n,
            drafter=NgramDrafter(vocab, min_ngram=MIN_NGRAM),
            lookahead=k,
            eos_token_id=eos,
        ),
    }


def run_smollm2(
    model: Any,
    prompt_sets: dict[str, list[list[int]]],
    *,
    eos: set[int],
    k: int,
    max_tokens: int,
    repeats: int,
    impl: str,
    model_name: str,
    log: Callable[[str], None] = print,
) -> SmolLM2Report:
    """Time both rows on every prompt set ``repeats`` times (rotated) and return the figures."""
    configs = configurations(model, eos, k)
    names = list(configs)
    first = next(iter(prompt_sets.values()))[0]
    for run in configs.values():  # warm-up, not timed
        run(first, 8)
    secs = {(s, n): [] for s in prompt_sets for n in names}
    outputs: dict[tuple[str, str], list[Any]] = {}
    loads = [load_line()]
    for rep in range(repeats):
        for set_name, prompts in prompt_sets.items():
            for name in rotated(names, rep):
                t0 = time.perf_counter()
                outputs[set_name, name] = [configs[name](p, max_tokens) for p in prompts]
                secs[set_name, name].append(time.perf_counter() - t0)
        loads.append(load_line())
        log(
            f"repeat {rep + 1}/{repeats}: "
            + ", ".join(f"{SETS[s]} {n} {secs[s, n][-1]:.2f} s" for s in prompt_sets for n in names)
        )
    report = SmolLM2Report(
        impl=impl,
        model=model_name,
        blas=blas_name(),
        device=f"{mx.default_device()} ({mx.__version__})",
        machine=f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs",
        load=f"{loads[0]} before, {loads[-1]} after",
        k=k,
        n_prompts=len(next(iter(prompt_sets.values()))),
        max_tokens=max_tokens,
        repeats=repeats,
    )
    for set_name in prompt_sets:
        reference = [r.tokens for r in outputs[set_name, BASE]]
        for name in names:
            runs = outputs[set_name, name]
            produced = sum(len(r.tokens) for r in runs)
            ratios = [
                b / t for b, t in zip(secs[set_name, BASE], secs[set_name, name], strict=True)
            ]
            drafted = [d for r in runs for d in r.drafted_per_round]
            t = statistics.median(secs[set_name, name])
            report.rows.append(
                SetRow(
                    prompts=set_name,
                    name=name,
                    k=None if name == BASE else k,
                    seconds=t,
                    tokens=produced,
                    tokens_per_s=produced / t,
                    speedup=statistics.median(ratios),
                    speedup_low=min(ratios),
                    speedup_high=max(ratios),
                    target_calls_per_token=sum(r.target_calls for r in runs) / max(produced, 1),
                    rounds_with_proposal=sum(d > 0 for d in drafted) / len(drafted)
                    if drafted
                    else 0.0,
                    mismatches=sum(r.tokens != ref for r, ref in zip(runs, reference, strict=True)),
                )
            )
    return report


def render(console: Console, report: SmolLM2Report) -> None:
    """Print the BLAS/device line, the table and both goal ratios."""
    print_machine(console, report.blas, report.device, report.machine)
    console.print(
        f"{report.model}; --impl {report.impl}; greedy, up to {report.max_tokens} new "
        f"tokens x {report.n_prompts} chat prompts per set, K = {report.k}, "
        f"{report.repeats} interleaved repeats (medians); {report.load}"
    )
    table = Table(title="Week 4 on SmolLM2-135M-Instruct: prompt lookup vs target-only")
    for col in (
        "prompts",
        "row",
        "K",
        "tok/s",
        "vs target-only",
        "range",
        "target calls/token",
        "rounds with a match",
        "diff",
    ):
        table.add_column(col, justify="left" if col in ("prompts", "row") else "right")
    for r in report.rows:
        table.add_row(
            SETS[r.prompts],
            r.name,
            "-" if r.k is None else str(r.k),
            f"{r.tokens_per_s:.1f}",
            f"{r.speedup:.2f}x",
            f"{r.speedup_low:.2f}-{r.speedup_high:.2f}",
            f"{r.target_calls_per_token:.2f}",
            "-" if r.k is None else f"{r.rounds_with_proposal:.0%}",
            str(r.mismatches),
        )
    wide = console if console.is_terminal else Console(file=console.file, width=120)
    wide.print(table)
    console.print(
        "diff = prompts whose output differs from target-only greedy decoding (0 = lossless)"
    )
    for set_name, goal in GOALS.items():
        row = report.row(set_name, LOOKUP)
        verdict = "[green]met[/green]" if row.speedup >= goal else "[yellow]not met[/yellow]"
        console.print(
            f"goal prompt lookup vs target-only on {SETS[set_name]} prompts: "
            f"{row.speedup:.2f}x (range {row.speedup_low:.2f}-{row.speedup_high:.2f}) "
            f"vs goal {goal:.2f}x: {verdict}"
        )


def bench_smollm2(
    console: Console,
    *,
    target: str,
    k: int,
    num_prompts: int,
    max_tokens: int,
    repeats: int,
    out: str | Path,
    impl: str | None,
) -> int:
    """Load SmolLM2, run both prompt sets, print, and write ``week4_smollm2.json`` under ``out``."""
    from specdec_course.api.models import ModelPairError, load_target
    from specdec_course.api.smollm2 import chat_ids, prompts
    from specdec_course.core.impl import activate, requested_impl
    from specdec_course.core.unwritten import TaskNotWritten, friendly_stubs, report_unwritten

    name = requested_impl(impl)
    activate(name)
    try:
        with console.status(f"loading {target}"):
            model, tokenizer = load_target(target)
    except ModelPairError as err:
        console.print(f"[red]{err}[/red]")
        return 2
    texts = prompts()
    prompt_sets = {s: [chat_ids(tokenizer, u) for u in texts[s][:num_prompts]] for s in SETS}
    try:
        with friendly_stubs():
            report = run_smollm2(
                model,
                prompt_sets,
                eos=set(tokenizer.eos_token_ids),
                k=k,
                max_tokens=max_tokens,
                repeats=repeats,
                impl=name,
                model_name=f"SmolLM2-135M-Instruct ({target})",
                log=lambda m: console.print(m, style="dim"),
            )
    except TaskNotWritten as err:
        return report_unwritten(console, err, name)
    render(console, report)
    path = write_report(report, out, "week4_smollm2.json")
    console.print(f"wrote {path}")
    return 1 if any(r.mismatches for r in report.rows) else 0
