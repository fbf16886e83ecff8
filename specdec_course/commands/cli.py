"""The ``specdec`` command line."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from specdec_course import __version__
from specdec_course.core.impl import IMPLEMENTATIONS, REPO_ROOT, requested_impl

console = Console()

EPILOG = """\
examples:
  specdec test --week 1 --day 1              run one chapter's tests on your code (src/)
  specdec test --week 1 --day 1 -- -x -k T   pass extra arguments to pytest after --
  specdec test --week 1 --day 1 --impl solutions
                                             the same tests on the reference solution
  specdec walkthrough --impl solutions       one speculative step, position by position
  specdec demo --impl solutions              speculative vs target-only on the bundled models
  specdec bench --impl solutions             K sweep: measured vs predicted speedup, CSV/JSON/plots
  specdec check                              instructor self-check of the whole course
"""


def _add_impl(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", choices=sorted(IMPLEMENTATIONS), default=None,
                        help="src = your code (default), solutions = the reference; or set SPECDEC_IMPL")


def cmd_test(args: argparse.Namespace) -> int:
    """Run one chapter's tests (or all task tests) and print a friendly summary."""
    from specdec_course.core.tasks import CHAPTERS, chapter
    from specdec_course.grading.runner import run_pytest, summarize

    impl = requested_impl(args.impl)
    if args.week is None and args.day is None:
        title, markers = "all chapters", [c.marker for c in CHAPTERS]
    elif args.week is None or args.day is None:
        console.print("[red]give both --week and --day (or neither, for every chapter)[/red]")
        return 2
    else:
        try:
            ch = chapter(args.week, args.day)
        except KeyError as err:
            console.print(f"[red]{err.args[0]}[/red]")
            return 2
        title, markers = f"{ch.label}: {ch.title}", [ch.marker]
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    console.rule(f"[bold]{title}[/bold] - testing the {impl!r} implementation")
    # The plugin ties tests/test_wNdM_*.py to marker wNdM, so one chapter's file is
    # enough to collect; skipping the other chapters' imports saves seconds per run.
    files = sorted(str(p.relative_to(REPO_ROOT)) for m in markers
                   for p in (REPO_ROOT / "tests").glob(f"test_{m}_*.py"))
    run = run_pytest([*(files or ["tests", "--ignore=tests/course"]), "-m", " or ".join(markers), *extra], impl)
    if not run.records:
        return run.returncode
    table = Table(title=f"{title} ({impl})")
    for col in ("tests", "status", "passed", "what to do"):
        table.add_column(col)
    labels = {"pass": "[green]passing[/green]", "todo": "[yellow]not written yet[/yellow]", "fail": "[red]failing[/red]"}
    for group, status, passed, total, detail in summarize(run.records):
        table.add_row(group, labels[status], f"{passed}/{total}", detail)
    console.print(table)
    return run.returncode


def cmd_check(args: argparse.Namespace) -> int:
    """The instructor self-check; see ``specdec_course.commands.check``."""
    from specdec_course.commands.check import run_check

    return run_check(console)


def _fast_blas() -> None:
    # Timing commands: on Linux re-exec with OpenBLAS preloaded when available.
    from specdec_course.core.blas import ensure_fast_blas

    ensure_fast_blas([sys.executable, *sys.argv])


def _add_models(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--draft", help="draft model: local mlx-lm path or hub name (default: bundled)")
    parser.add_argument("--target", help="target model: local mlx-lm path or hub name (default: bundled)")
    parser.add_argument("--prompt", default=None, help="prompt text (default: a Python function header)")


def cmd_walkthrough(args: argparse.Namespace) -> int:
    """One speculative step, position by position."""
    from specdec_course.commands.demo import DEFAULT_PROMPT, walkthrough

    return walkthrough(console, prompt=args.prompt or DEFAULT_PROMPT, lookahead=args.k,
                       draft=args.draft, target=args.target, impl=args.impl)


def cmd_demo(args: argparse.Namespace) -> int:
    """Speculative generation with accepted draft tokens highlighted, vs target-only."""
    _fast_blas()
    from specdec_course.commands.demo import DEFAULT_PROMPT, demo

    return demo(console, prompt=args.prompt or DEFAULT_PROMPT, lookahead=args.k, max_tokens=args.max_tokens,
                temperature=args.temperature, draft=args.draft, target=args.target, impl=args.impl,
                seed=args.seed)


def cmd_bench(args: argparse.Namespace) -> int:
    """The K sweep: measured vs predicted speedup, written to --out."""
    _fast_blas()
    from specdec_course.bench.run import bench

    return bench(console, ks=args.k, draft=args.draft, target=args.target, temperature=args.temperature,
                 prompts_file=args.prompts, num_prompts=args.num_prompts, max_tokens=args.max_tokens,
                 repeats=args.repeats, out=args.out, adaptive=args.adaptive, compare_mlx_lm=args.compare_mlx_lm,
                 impl=args.impl, seed=args.seed)


def cmd_train_models(args: argparse.Namespace) -> int:
    """Train the bundled draft/target pair (see specdec_course.training.main)."""
    _fast_blas()
    from specdec_course.training.main import main as train_main

    return train_main(args.train_args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="specdec", description="Speculative decoding on MLX: the course's command line.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"specdec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("test", help="run a chapter's tests against your code",
                       epilog="example: specdec test --week 1 --day 4 -- -x",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--week", type=int)
    p.add_argument("--day", type=int)
    _add_impl(p)
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: extra pytest arguments")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("walkthrough", help="show one speculative step position by position")
    _add_models(p)
    p.add_argument("--k", type=int, default=5, help="draft tokens to propose (default 5)")
    _add_impl(p)
    p.set_defaults(func=cmd_walkthrough)

    p = sub.add_parser("demo", help="generate with speculative decoding and compare with target-only")
    _add_models(p)
    p.add_argument("--k", type=int, default=4, help="lookahead K (default 4)")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    _add_impl(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="time speculative decoding for several K: measured vs predicted speedup",
                       epilog="example: specdec bench --impl solutions --k 0 2 4 --repeats 3",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--k", type=int, nargs="+", default=[0, 1, 2, 3, 4, 6, 8],
                   help="lookaheads to sweep (default 0 1 2 3 4 6 8)")
    p.add_argument("--draft", help="draft model: local mlx-lm path or hub name (default: bundled)")
    p.add_argument("--target", help="target model: local mlx-lm path or hub name (default: bundled)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (outputs checked), > 0 samples")
    p.add_argument("--prompts", default=None, help="JSON list of prompt strings (default: the held-out prompts)")
    p.add_argument("--num-prompts", type=int, default=8, help="how many prompts from the file (default 8)")
    p.add_argument("--max-tokens", type=int, default=128, help="tokens per generation (default 128)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes over all prompts (default 3)")
    p.add_argument("--out", default="bench-results", help="output directory (default bench-results/)")
    p.add_argument("--adaptive", action="store_true",
                   help="add the AdaptiveSpeculator (Week 2 Day 3) row and simulated workloads")
    p.add_argument("--compare-mlx-lm", action=argparse.BooleanOptionalAction, default=True,
                   help="also time mlx-lm's speculative_generate_step at the best K (default on)")
    p.add_argument("--seed", type=int, default=0)
    _add_impl(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("train-models", help="retrain the bundled draft/target pair (about an hour on 2 CPU cores)",
                       add_help=False)
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="options of the trainer; see --help")
    p.set_defaults(func=cmd_train_models)

    p = sub.add_parser("check", help="instructor self-check: reference passes, stubs fail, parity, book")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``specdec`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train-models"]:
        # Everything after the command belongs to the trainer's own parser.
        return cmd_train_models(argparse.Namespace(train_args=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
