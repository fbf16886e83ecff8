"""``specdec bench``: load models and prompts, run, print and save."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from specdec_course.bench.output import write_outputs
from specdec_course.bench.render import render
from specdec_course.bench.report import run_bench
from specdec_course.bench.settings import (
    BenchSettings,
    Impl,
    load_impl,
    load_models_and_prompts,
    preflight,
)
from specdec_course.core.paths import PROMPTS_PATH


def make_progress(console: Console) -> Progress:
    """The progress bar shown while the bench runs."""
    return Progress(TextColumn("[progress.description]{task.description:<28}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)


def run_and_report(
    console: Console,
    draft: Any,
    target: Any,
    prompts: Sequence[list[int]],
    settings: BenchSettings,
    impl: Impl,
    out: Path,
    *,
    models: dict[str, str] | None = None,
) -> int:
    """Run the bench on loaded models, print the tables, write the files; returns the exit status.

    1 when a greedy output differs from the baseline's (the decoder is not
    lossless) or a task is not written yet; 0 otherwise.
    """
    from specdec_course.bench.frame import warn_if_loaded
    from specdec_course.core.unwritten import TaskNotWritten, friendly_stubs, report_unwritten

    warn_if_loaded(console)
    try:
        with friendly_stubs():
            preflight(impl, settings)
            with make_progress(console) as progress:
                report = run_bench(draft, target, prompts, settings, impl, models=models, progress=progress)
    except TaskNotWritten as err:
        return report_unwritten(console, err, impl.name)
    render(console, report)
    paths = write_outputs(report, out)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return 0 if report.ok else 1


def bench(console: Console, *, ks: Sequence[int], draft: str | None, target: str | None, temperature: float,
          prompts_file: str | None, num_prompts: int, max_tokens: int, repeats: int, out: str | Path,
          adaptive: bool, compare_mlx_lm: bool, impl: str | None, seed: int = 0) -> int:
    """``specdec bench``: load the models and prompts, then :func:`run_and_report`."""
    from specdec_course.core.impl import requested_impl
    from specdec_course.core.unwritten import TaskNotWritten, friendly_stubs, report_unwritten

    settings = BenchSettings(ks=tuple(ks), max_tokens=max_tokens, repeats=repeats, temperature=temperature,
                             adaptive=adaptive, compare_mlx_lm=compare_mlx_lm, seed=seed)
    try:
        settings.check()
        if num_prompts < 1:
            raise ValueError(f"--num-prompts must be >= 1, got {num_prompts}")
    except ValueError as err:
        console.print(f"[red]{err}[/red]")
        return 2
    name = requested_impl(impl)
    implementation = load_impl(name)
    try:
        with friendly_stubs():
            preflight(implementation, settings)  # before loading models: fail fast on a stub
    except TaskNotWritten as err:
        return report_unwritten(console, err, name)
    loaded = load_models_and_prompts(console, draft, target, prompts_file, num_prompts)
    if loaded is None:
        return 2
    draft_model, target_model, prompts = loaded
    models = {"draft": draft or "bundled specdec-draft", "target": target or "bundled specdec-target",
              "prompts": str(prompts_file or PROMPTS_PATH)}
    return run_and_report(console, draft_model, target_model, prompts, settings, implementation, Path(out),
                          models=models)
