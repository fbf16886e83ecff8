"""specdec bench --week4: every row on tiny in-process models, cheaply (no timing asserts).

Bugs caught: a row missing from the one-run table (the tree row of Week 4 Day 2 included), a
row whose output differs from target-only greedy, a tree row measured at another verify width
than the Week 1 loop's, and a table that does not render.
"""

import io

import pytest
from rich.console import Console

from specdec_course.bench.week4 import (
    BASE,
    FAST,
    MLX_BASE,
    MLX_SPEC,
    TREE_BRANCH,
    render,
    run_week4,
)
from specdec_course.core import impl
from specdec_course.testing import tiny_pair

K = 4


@pytest.fixture(scope="module")
def report():
    before = impl.requested_impl()
    impl.activate("solutions")
    try:
        draft, target = tiny_pair(3)
        yield run_week4(
            draft,
            target,
            [[1, 2, 3, 4, 5, 1, 2, 3]],
            k=K,
            max_tokens=10,
            repeats=1,
            impl="solutions",
            log=lambda m: None,
        )
    finally:
        impl.activate(before)


def test_every_row_is_there_and_lossless(report):
    names = [r.name for r in report.rows]
    tree = f"tree {TREE_BRANCH}x{K // TREE_BRANCH}"
    for name in (BASE, "Week 1 loop", FAST, "n-gram", "n-gram + model", tree, MLX_SPEC):
        assert name in names, f"row {name!r} missing from {names}"
    for r in report.rows:
        assert r.tokens == 10 and r.tokens_per_s > 0, r
        if not r.name.startswith("mlx-lm"):
            assert r.mismatches == 0, f"{r.name}: output differs from target-only greedy"


def test_tree_row_has_the_week1_verify_width(report):
    tree = next(r for r in report.rows if r.name.startswith("tree"))
    week1 = report.row("Week 1 loop")
    assert tree.k + 1 == week1.k + 1 == K + 1, (
        f"the tree drafts {tree.k} nodes per round, the Week 1 loop {week1.k}: compare them at "
        "equal verify width (1 + branch * depth == K + 1)"
    )


def test_round_figures_are_the_loops_own(report):
    """The accepted/round and target-calls/token columns, recomputed from each loop's result.

    Bugs caught: the bench averaging over the wrong list (drafted instead of accepted, or per
    token instead of per round), or dividing the target calls by the rounds.
    """
    from specdec.decoder import SpeculativeDecoder
    from specdec.trees import tree_speculative_generate

    before = impl.requested_impl()
    impl.activate("solutions")
    try:
        draft, target = tiny_pair(3)
        prompt = [1, 2, 3, 4, 5, 1, 2, 3]
        runs = {
            "Week 1 loop": SpeculativeDecoder(draft, target, K).generate(prompt, 10),
            f"tree {TREE_BRANCH}x{K // TREE_BRANCH}": tree_speculative_generate(
                draft, target, prompt, 10, branch=TREE_BRANCH, depth=K // TREE_BRANCH
            ),
        }
    finally:
        impl.activate(before)
    for name, result in runs.items():
        row = report.row(name)
        rounds = list(result.accepted_per_round)
        want_acc = sum(rounds) / len(rounds)
        want_calls = result.target_calls / len(result.tokens)
        assert row.accepted_per_round == pytest.approx(want_acc), (
            f"{name}: accepted/round {row.accepted_per_round:.3f}, but the loop accepted "
            f"{rounds} (mean {want_acc:.3f})"
        )
        assert row.target_calls_per_token == pytest.approx(want_calls), (
            f"{name}: target calls/token {row.target_calls_per_token:.3f}, but the loop made "
            f"{result.target_calls} target calls for {len(result.tokens)} tokens"
        )


def test_renders(report):
    out = io.StringIO()
    render(Console(file=out, width=140), report)
    text = out.getvalue()
    assert "tree 2x2" in text and "goal fast loop vs target-only" in text


def test_rows_whose_code_is_not_written_are_skipped_and_listed():
    # The stubs (a student's first days): mlx-lm's rows run, the speedups are against mlx-lm's
    # target-only decoding, every other row is listed with the task that unlocks it.
    before = impl.requested_impl()
    impl.activate("src")
    try:
        draft, target = tiny_pair(3)
        got = run_week4(
            draft,
            target,
            [[1, 2, 3, 1, 2]],
            k=K,
            max_tokens=6,
            repeats=1,
            impl="src",
            log=lambda m: None,
        )
    finally:
        impl.activate(before)
    assert {r.name for r in got.rows} == {MLX_BASE, MLX_SPEC} and got.base == MLX_BASE
    listed = " ".join(got.skipped)
    for row in (BASE, FAST, "n-gram", "Week 1 loop"):
        assert f"skipped {row}: " in listed, f"{row} must be listed as skipped: {got.skipped}"
    assert "specdec test --week 1 --day 2" in listed, "each skipped row names its test command"
    console = Console(file=io.StringIO(), width=140)
    render(console, got)
    out = console.file.getvalue()
    assert "row(s) skipped" in out and "no goal ratios" in out
