"""The ``specdec`` command line."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.text import Text

from specdec_course import __version__
from specdec_course.bench.settings import (
    BATCH_KS,
    BATCH_MAX_TOKENS,
    DEFAULT_KS,
    DEFAULT_MAX_TOKENS,
)
from specdec_course.core.argtypes import (
    OneLineParser,
    existing_file,
    fail,
    int_at_least,
    model_source,
    positive_float,
    temperature,
)
from specdec_course.core.impl import IMPLEMENTATIONS, REFERENCE_IMPL, REPO_ROOT, requested_impl
from specdec_course.core.paths import day_test_files

console = Console()

# Where the reference is present (the instructors' repository) the examples run it; in a
# student handout the same commands run the student's own code.
_REF = f" --impl {REFERENCE_IMPL}" if REFERENCE_IMPL else ""
EPILOG = f"""\
examples:
  specdec test --week 1 --day 1              run one chapter's tests on your code (src/)
  specdec test --week 1 --day 1 -- -x -k T   pass extra arguments to pytest after --
""" + (
    f"""\
  specdec test --week 1 --day 1{_REF}
                                             the same tests on the reference
"""
    if REFERENCE_IMPL
    else ""
) + f"""\
  specdec walkthrough{_REF:<24}one speculative step, position by position
  specdec demo{_REF:<31}speculative vs target-only on the bundled models
  specdec bench{_REF:<30}K sweep: measured vs predicted speedup, CSV/JSON/plots
"""
if REFERENCE_IMPL:
    EPILOG += "  specdec check                              instructor self-check of the whole course\n"


def _add_impl(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", choices=sorted(IMPLEMENTATIONS), default=None,
                        help="src = your code (default)"
                        + (f", {REFERENCE_IMPL} = the reference" if REFERENCE_IMPL else "")
                        + "; or set SPECDEC_IMPL")


def cmd_test(args: argparse.Namespace) -> int:
    """Run one chapter's tests (or all task tests) and print a friendly summary."""
    from specdec_course.core.tasks import CHAPTERS, chapter
    from specdec_course.grading.runner import run_pytest, summary_table

    impl = requested_impl(args.impl)
    if args.week is None and args.day is None:
        title, markers = "all chapters", [c.marker for c in CHAPTERS]
        short = "all chapters"
    elif args.week is None or args.day is None:
        fail("specdec test", "give both --week and --day (or neither, for every chapter)")
    else:
        try:
            ch = chapter(args.week, args.day)
        except KeyError as err:
            fail("specdec test", err.args[0])
        title, markers = f"{ch.label}: {ch.title}", [ch.marker]
        short = f"W{ch.week}D{ch.day} tests"
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    console.rule(f"[bold]{title}[/bold] - testing the {impl!r} implementation")
    _warn_static(impl, markers)
    # The plugin ties tests/test_wNdM_*.py to marker wNdM, so one chapter's file is
    # enough to collect; skipping the other chapters' imports saves seconds per run.
    files = sorted(str(p.relative_to(REPO_ROOT)) for m in markers for p in day_test_files(m))
    run = run_pytest([*(files or ["tests", "--ignore=tests/course"]), "-m", " or ".join(markers), *extra], impl)
    if not run.records:
        return run.returncode
    console.print(summary_table(run.records, f"{short} ({impl})"))
    return run.returncode


def _warn_static(impl: str, markers: list[str]) -> None:
    """Say before the tests what `specdec grade` would refuse in these days' modules."""
    from specdec_course.core.tasks import CHAPTERS
    from specdec_course.grading.static_check import check_package

    modules = sorted({t.split(".")[0] for c in CHAPTERS if c.marker in markers for t in c.tasks})
    found = check_package(IMPLEMENTATIONS[impl] / "specdec", modules)
    for violations in found.values():
        for v in violations:
            console.print(Text(f"grading would refuse {v} (that module's days score 0)",
                               style="bold red"))


def cmd_check(args: argparse.Namespace) -> int:
    """The instructor self-check; see ``specdec_course.commands.check``."""
    from specdec_course.commands.check import run_check

    return run_check(console)


def _instructor_only(verb: str) -> int:
    # A student handout ships without the grader and the handout writer.
    console.print(f"specdec {verb}: an instructor command, not part of this repository")
    return 2


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade a submission; see ``specdec_course.grading.grade``."""
    try:
        from specdec_course.grading.grade import GradeError, grade_submission, print_grade
    except ImportError:
        return _instructor_only("grade")
    days = [d.lower() for d in args.day] if args.day else None
    try:
        result = grade_submission(
            args.submission, hidden=args.hidden, out=args.out, days=days, jobs=args.jobs
        )
    except GradeError as err:
        console.print(f"specdec grade: {err}", soft_wrap=True, markup=False)
        return 2
    print_grade(console, result)
    console.print(
        f"wrote {args.out}/grade.json, student.json (hidden tests withheld) and junit.xml",
        markup=False,
    )
    if args.gradescope:
        import json
        from pathlib import Path

        from specdec_course.grading.autograder import gradescope_results

        try:
            Path(args.gradescope).write_text(json.dumps(gradescope_results(result), indent=1))
        except OSError as err:
            console.print(f"specdec grade: cannot write {args.gradescope}: {err.strerror}",
                          markup=False)
            return 2
    return 0


def cmd_autograder(args: argparse.Namespace) -> int:
    """Write a Gradescope autograder bundle; see ``specdec_course.grading.autograder``."""
    try:
        from specdec_course.grading.autograder import write_bundle
        from specdec_course.grading.rubric import GradeError
    except ImportError:
        return _instructor_only("autograder")
    try:
        dest = write_bundle(args.dest)
    except GradeError as err:
        console.print(f"specdec autograder: {err}", soft_wrap=True, markup=False)
        return 2
    console.print(f"wrote the Gradescope autograder to {dest}: zip its contents "
                  "(setup.sh, run_autograder, source/) and upload them", markup=False)
    return 0


def cmd_handout(args: argparse.Namespace) -> int:
    """Write and prove a student handout; see ``specdec_course.commands.handout``."""
    try:
        from specdec_course.commands.handout import HandoutError, write_handout
    except ImportError:
        return _instructor_only("handout")
    try:
        return write_handout(console, args.dest, prove=args.prove, sync=args.sync)
    except HandoutError as err:
        console.print(f"specdec handout: {err}", soft_wrap=True, markup=False)
        return 2


def _fast_blas() -> None:
    # Timing commands: on Linux re-exec with OpenBLAS preloaded when available.
    from specdec_course.core.blas import ensure_fast_blas

    ensure_fast_blas([sys.executable, *sys.argv])


def _add_models(parser: argparse.ArgumentParser, prompt: bool = True) -> None:
    # model_source refuses a missing local folder at parse time, before anything loads.
    parser.add_argument("--draft", type=model_source,
                        help="draft model: local mlx-lm folder or hub owner/name "
                             "(default: bundled)")
    parser.add_argument("--target", type=model_source,
                        help="target model: local mlx-lm folder, hub owner/name, or smollm2 "
                             "(SmolLM2-135M-Instruct, offline; drafts by prompt lookup) "
                             "(default: bundled)")
    if prompt:
        parser.add_argument("--prompt", default=None,
                            help="prompt text (default: a Python snippet from the held-out files)")


def cmd_walkthrough(args: argparse.Namespace) -> int:
    """One speculative step, position by position."""
    from specdec_course.api.models import ModelPairError
    from specdec_course.commands.demo import WALKTHROUGH_PROMPT, walkthrough

    try:
        return walkthrough(console, prompt=args.prompt or WALKTHROUGH_PROMPT, lookahead=args.k,
                           draft=args.draft, target=args.target, impl=args.impl)
    except ModelPairError as err:
        fail("specdec walkthrough", str(err))


def cmd_demo(args: argparse.Namespace) -> int:
    """Speculative generation with accepted draft tokens highlighted, vs target-only."""
    from specdec_course.api.models import ModelPairError
    from specdec_course.commands.demo import DEFAULT_PROMPT, demo, preflight

    # argparse has checked every argument; an unwritten task is reported before the re-exec too.
    status = preflight(console, args.impl)
    if status is not None:
        return status
    _fast_blas()

    try:
        return demo(console, prompt=args.prompt or DEFAULT_PROMPT, lookahead=args.k,
                    max_tokens=args.max_tokens, temperature=args.temperature, draft=args.draft,
                    target=args.target, impl=args.impl, seed=args.seed)
    except ModelPairError as err:
        fail("specdec demo", str(err))




def cmd_bench(args: argparse.Namespace) -> int:
    """The K sweep: measured vs predicted speedup, written to --out."""
    from specdec_course.commands.demo import preflight

    if args.batch is None and args.week4 is None and not args.serve:
        # The sweep needs the whole decoder: an unwritten one is said before the re-exec.
        # --batch, --week4 and --serve run the rows whose code is written and list the others.
        status = preflight(console, args.impl)
        if status is not None:
            return status
    _fast_blas()
    if args.serve:
        from specdec_course.bench.serve import bench_serve

        return bench_serve(console, draft=args.draft, target=args.target, prompts_file=args.prompts,
                           requests=args.requests, max_tokens=args.max_tokens, slots=args.slots,
                           ks=args.k, loads=args.loads, rates=args.rates, seed=args.seed,
                           quick=args.quick, out=args.out, impl=args.impl)
    if args.batch is not None:
        from specdec_course.bench.batch import bench_batch

        # --k and --max-tokens default to None, so a value typed on the command line is kept
        # even when it equals the sweep's default.
        return bench_batch(console, batches=args.batch, ks=args.k or list(BATCH_KS),
                           draft=args.draft, target=args.target, prompts_file=args.prompts,
                           max_tokens=args.max_tokens or BATCH_MAX_TOKENS,
                           repeats=args.repeats, out=args.out, impl=args.impl)
    if args.week4 is not None:
        from specdec_course.bench.week4 import bench_week4

        return bench_week4(console, k=args.week4, draft=args.draft, target=args.target,
                           prompts_file=args.prompts, num_prompts=args.num_prompts,
                           max_tokens=args.max_tokens or DEFAULT_MAX_TOKENS, repeats=args.repeats,
                           temperature=args.temperature, out=args.out, impl=args.impl)
    from specdec_course.bench.run import bench

    return bench(console, ks=args.k or list(DEFAULT_KS), draft=args.draft, target=args.target,
                 temperature=args.temperature, prompts_file=args.prompts,
                 num_prompts=args.num_prompts, max_tokens=args.max_tokens or DEFAULT_MAX_TOKENS,
                 repeats=args.repeats, out=args.out, adaptive=args.adaptive, compare_mlx_lm=args.compare_mlx_lm,
                 impl=args.impl, seed=args.seed)


def cmd_train_models(args: argparse.Namespace) -> int:
    """Train the bundled draft/target pair (see specdec_course.training.main)."""
    from specdec_course.training.options import build_parser as train_parser

    train_parser().parse_args(args.train_args)  # a bad option exits 2 here, before the re-exec
    _fast_blas()
    from specdec_course.training.main import main as train_main

    return train_main(args.train_args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = OneLineParser(
        prog="specdec", description="Speculative decoding on MLX: the course's command line.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"specdec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("test", help="run a chapter's tests against your code",
                       epilog="example: specdec test --week 1 --day 4 -- -x",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--week", type=int_at_least(1))
    p.add_argument("--day", type=int_at_least(1))
    _add_impl(p)
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: extra pytest arguments")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("walkthrough", help="show one speculative step position by position")
    _add_models(p)
    p.add_argument("--k", type=int_at_least(1, "draft tokens to propose in the step"), default=4,
                   help="draft tokens to propose (default 4)")
    _add_impl(p)
    p.set_defaults(func=cmd_walkthrough)

    p = sub.add_parser("demo", help="generate with speculative decoding and compare with target-only")
    _add_models(p)
    p.add_argument("--k", type=int_at_least(0, "the lookahead K"), default=4,
                   help="lookahead K (default 4)")
    p.add_argument("--max-tokens", type=int_at_least(1), default=128,
                   help="tokens to generate (default 128)")
    p.add_argument("--temperature", type=temperature, default=0.0,
                   help="0 = greedy (default), > 0 samples")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    _add_impl(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="time speculative decoding for several K: measured vs predicted speedup",
                       epilog=f"example: specdec bench{_REF} --k 0 2 4 --repeats 3",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--k", type=int_at_least(0, "lookaheads to sweep"), nargs="+",
                   default=None,
                   help="lookaheads to sweep (default 0 1 2 3 4 6 8; with --batch, --serve 1 2 3)")
    _add_models(p, prompt=False)
    p.add_argument("--temperature", type=temperature, default=0.0,
                   help="0 = greedy (outputs checked), > 0 samples")
    p.add_argument("--prompts", type=existing_file, default=None,
                   help="JSON list of prompt strings (default: the held-out prompts)")
    p.add_argument("--num-prompts", type=int_at_least(1), default=8,
                   help="how many prompts from the file (default 8)")
    p.add_argument("--max-tokens", type=int_at_least(1), default=None,
                   help="tokens per generation (default 128; with --batch 64 per row, with --serve "
                        "64 per request)")
    p.add_argument("--repeats", type=int_at_least(1), default=3,
                   help="timed passes over all prompts (default 3)")
    p.add_argument("--out", default="bench-results", help="output directory (default bench-results/)")
    p.add_argument("--adaptive", action="store_true",
                   help="add the AdaptiveSpeculator (Week 2 Day 3) row and simulated workloads")
    p.add_argument("--compare-mlx-lm", action=argparse.BooleanOptionalAction, default=True,
                   help="also time mlx-lm's speculative_generate_step at the best K (default on)")
    p.add_argument("--batch", type=int_at_least(1, "batch sizes"), nargs="+", default=None,
                   metavar="B",
                   help="instead of the sweep: Week 3 batched speculative decoding at these "
                        "batch sizes vs sequential runs and batched target-only (e.g. 1 2 4 8 16)")
    p.add_argument("--week4", type=int_at_least(1, "the Week 4 K"), nargs="?", const=6,
                   default=None, metavar="K",
                   help="instead of the sweep: the Week 4 rows (target-only, Week 1 loop, "
                        "fast loop, n-gram, n-gram + model, mlx-lm) at one K (default 6)")
    p.add_argument("--serve", action="store_true",
                   help="instead of the sweep: Week 5 serving engines (continuous target-only, "
                        "speculative at each --k, per-row adaptive) vs mlx-lm's BatchGenerator "
                        "on a saturated queue and Poisson arrivals: throughput, TTFT, ITL")
    p.add_argument("--requests", type=int_at_least(1, "requests per trace"), default=None,
                   help="with --serve: requests per trace (default 64)")
    p.add_argument("--slots", type=int_at_least(1, "slots"), default=8,
                   help="with --serve: rows every engine decodes together (default 8)")
    p.add_argument("--loads", type=positive_float, nargs="+", default=None, metavar="X",
                   help="with --serve: Poisson arrival rates as fractions of the saturated "
                        "target-only request rate (default 0.15 0.35 0.7)")
    p.add_argument("--rates", type=positive_float, nargs="+", default=None, metavar="R",
                   help="with --serve: Poisson arrival rates in requests/s (instead of --loads)")
    p.add_argument("--quick", action="store_true",
                   help="with --serve: a smoke run (8 requests x 16 tokens, K = 2, load 0.5)")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    _add_impl(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("train-models", help="retrain the bundled draft/target pair (about an hour on 2 CPU cores)",
                       add_help=False)
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="options of the trainer; see --help")
    p.set_defaults(func=cmd_train_models)

    p = sub.add_parser("check", help="instructor self-check: reference passes, stubs fail, parity, book")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("grade", help="instructor: grade a submission (grade.json, junit.xml, table)",
                       epilog="example: specdec grade ~/submissions/alice --hidden --out grades/alice",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submission", help="a student repository, a folder holding specdec/, or specdec/")
    p.add_argument("--hidden", action="store_true", help="run the hidden tests too (tests/hidden)")
    p.add_argument("--out", default="grade-results", help="output folder (default grade-results/)")
    p.add_argument("--day", action="append", metavar="wNdM",
                   help="grade only this day (repeatable), e.g. --day w1d4")
    p.add_argument("--jobs", type=int_at_least(1, "days graded at once"), default=None,
                   help="days graded at once (default: one per CPU core, at most 4)")
    p.add_argument("--gradescope", metavar="FILE", default=None,
                   help="also write Gradescope's results.json here (hidden tasks hidden)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("autograder", help="instructor: write a Gradescope autograder bundle")
    p.add_argument("dest", help="the folder to create (outside this repository)")
    p.set_defaults(func=cmd_autograder)

    p = sub.add_parser("handout", help="instructor: write a student repository and prove it leaks nothing")
    p.add_argument("dest", help="the folder to create (must not exist or be empty)")
    p.add_argument("--no-prove", dest="prove", action="store_false",
                   help="skip running the handout's tests and the leak check")
    p.add_argument("--no-sync", dest="sync", action="store_false",
                   help="prove with this environment instead of `uv sync --offline` in DEST")
    p.set_defaults(func=cmd_handout)
    if not REFERENCE_IMPL:  # a student handout: its CLI lists the student's commands only
        _drop_commands(sub, ("check", "grade", "handout", "autograder"))
    return parser


def _drop_commands(sub: argparse._SubParsersAction, names: tuple[str, ...]) -> None:
    """Remove subcommands from the parser and from its help (argparse has no public way)."""
    for name in names:
        sub.choices.pop(name, None)
    sub._choices_actions = [a for a in sub._choices_actions if a.dest not in names]


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
