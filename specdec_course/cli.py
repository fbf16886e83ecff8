"""The ``specdec`` command line."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from specdec_course import __version__
from specdec_course.impl import IMPLEMENTATIONS, requested_impl

console = Console()

EPILOG = """\
examples:
  specdec test --week 1 --day 1              run one chapter's tests on your code (src/)
  specdec test --week 1 --day 1 -- -x -k T   pass extra arguments to pytest after --
  specdec test --week 1 --day 1 --impl solutions
                                             the same tests on the reference solution
  specdec walkthrough --impl solutions       one speculative step, position by position
  specdec demo --impl solutions              speculative vs target-only on the bundled models
  specdec check                              instructor self-check of the whole course
"""


def _add_impl(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", choices=sorted(IMPLEMENTATIONS), default=None,
                        help="src = your code (default), solutions = the reference; or set SPECDEC_IMPL")


def cmd_test(args: argparse.Namespace) -> int:
    """Run one chapter's tests (or all task tests) and print a friendly summary."""
    from specdec_course.runner import run_pytest, summarize
    from specdec_course.tasks import CHAPTERS, chapter

    impl = requested_impl(args.impl)
    if args.week is None and args.day is None:
        title, marker = "all chapters", " or ".join(c.marker for c in CHAPTERS)
    elif args.week is None or args.day is None:
        console.print("[red]give both --week and --day (or neither, for every chapter)[/red]")
        return 2
    else:
        try:
            ch = chapter(args.week, args.day)
        except KeyError as err:
            console.print(f"[red]{err.args[0]}[/red]")
            return 2
        title, marker = f"{ch.label}: {ch.title}", ch.marker
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    console.rule(f"[bold]{title}[/bold] - testing the {impl!r} implementation")
    run = run_pytest(["tests", "-m", marker, *extra], impl)
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
    """The instructor self-check; see ``specdec_course.check``."""
    from specdec_course.check import run_check

    return run_check(console)


def _fast_blas() -> None:
    # Timing commands: on Linux re-exec with OpenBLAS preloaded when available.
    from specdec_course.blas import ensure_fast_blas

    ensure_fast_blas([sys.executable, *sys.argv])


def _add_models(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--draft", help="draft model: local mlx-lm path or hub name (default: bundled)")
    parser.add_argument("--target", help="target model: local mlx-lm path or hub name (default: bundled)")
    parser.add_argument("--prompt", default=None, help="prompt text (default: a Python function header)")


def cmd_walkthrough(args: argparse.Namespace) -> int:
    """One speculative step, position by position."""
    from specdec_course.demo import DEFAULT_PROMPT, walkthrough

    return walkthrough(console, prompt=args.prompt or DEFAULT_PROMPT, lookahead=args.k,
                       draft=args.draft, target=args.target, impl=args.impl)


def cmd_demo(args: argparse.Namespace) -> int:
    """Speculative generation with accepted draft tokens highlighted, vs target-only."""
    _fast_blas()
    from specdec_course.demo import DEFAULT_PROMPT, demo

    return demo(console, prompt=args.prompt or DEFAULT_PROMPT, lookahead=args.k, max_tokens=args.max_tokens,
                temperature=args.temperature, draft=args.draft, target=args.target, impl=args.impl,
                seed=args.seed)


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

    p = sub.add_parser("check", help="instructor self-check: reference passes, stubs fail, parity, book")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``specdec`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
