"""specdec bench --batch: the Week 3 batch bench on tiny in-process models (no timing asserts)."""

import io
import json

import pytest
from rich.console import Console

from specdec_course.bench.batch import (
    MLX_TARGET,
    OWN_TARGET,
    plot,
    render,
    run_batch_bench,
)
from specdec_course.commands.cli import build_parser
from specdec_course.core import impl
from specdec_course.testing import tiny_pair

PROMPTS = [[1, 2, 3, 4, 5], [7], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12], [4, 4]]


@pytest.fixture(scope="module")
def report():
    before = impl.requested_impl()
    impl.activate("solutions")
    try:
        draft, target = tiny_pair(0)
        yield run_batch_bench(
            draft,
            target,
            PROMPTS,
            batches=[1, 2, 4],
            ks=[1, 3],
            max_tokens=10,
            repeats=2,
            impl="solutions",
            log=lambda m: None,
        )
    finally:
        impl.activate(before)


def test_every_row_is_measured_and_equal(report):
    names = {r.name for r in report.rows}
    assert names == {
        OWN_TARGET,
        MLX_TARGET,
        "batched spec K=1",
        "batched spec K=3",
        "sequential spec K=1",
        "sequential spec K=3",
    }
    for b in (1, 2, 4):
        rows = [r for r in report.rows if r.batch == b]
        assert len(rows) == 6
        for r in rows:
            assert r.tokens == 10 * b and r.tokens_per_s > 0
            assert r.mismatched_rows == 0, f"{r.name} at B={b}: outputs differ per row"
    assert report.ratios(4) is not None and report.ratios(8) is None


def test_render_plot_and_json(report, tmp_path):
    out = io.StringIO()
    render(Console(file=out, width=160), report)
    text = out.getvalue()
    assert "BLAS:" in text and "batched spec K=3" in text and "add B = 8" in text
    assert plot(report, tmp_path / "b.png").stat().st_size > 1000
    from dataclasses import asdict

    assert json.loads(json.dumps(asdict(report)))["batches"] == [1, 2, 4]


def test_cli_option():
    args = build_parser().parse_args(["bench", "--batch", "1", "8", "--k", "2"])
    assert args.batch == [1, 8] and args.k == [2]
    assert build_parser().parse_args(["bench"]).batch is None


@pytest.mark.parametrize(
    "argv, ks, max_tokens",
    [
        ([], [1, 2, 3], 64),
        (
            ["--k", "0", "1", "2", "3", "4", "6", "8", "--max-tokens", "128"],
            [0, 1, 2, 3, 4, 6, 8],
            128,
        ),
        (["--k", "5", "--max-tokens", "16"], [5], 16),
    ],
)
def test_batch_mode_keeps_typed_values(monkeypatch, argv, ks, max_tokens):
    """Bug caught: a typed --k or --max-tokens equal to the sweep's default read as "not given"."""
    from specdec_course.bench import batch
    from specdec_course.commands import cli, demo

    seen = {}
    monkeypatch.setattr(demo, "preflight", lambda console, impl: None)
    monkeypatch.setattr(cli, "_fast_blas", lambda: None)
    monkeypatch.setattr(batch, "bench_batch", lambda console, **kw: seen.update(kw) or 0)
    args = build_parser().parse_args(["bench", "--batch", "8", *argv])
    assert args.func(args) == 0
    assert (seen["ks"], seen["max_tokens"]) == (ks, max_tokens), (
        f"specdec bench --batch 8 {' '.join(argv)}: ran K {seen['ks']} with "
        f"{seen['max_tokens']} tokens, want K {ks} with {max_tokens}"
    )


def test_a_wrong_sequential_run_is_counted(monkeypatch):
    """Bug caught: the reference taken from the sequential runs themselves, so their diff is 0."""
    before = impl.requested_impl()
    impl.activate("solutions")  # (re)imports specdec: patch the module it leaves in place
    try:
        import specdec.decoder

        real = specdec.decoder.SpeculativeDecoder

        class WrongLastToken(real):
            def generate(self, *args, **kwargs):
                result = real.generate(self, *args, **kwargs)
                result.tokens = result.tokens[:-1] + [(result.tokens[-1] + 1) % 64]
                return result

        monkeypatch.setattr(specdec.decoder, "SpeculativeDecoder", WrongLastToken)
        draft, target = tiny_pair(0)
        report = run_batch_bench(
            draft,
            target,
            PROMPTS[:2],
            batches=[2],
            ks=[1],
            max_tokens=6,
            repeats=1,
            impl="solutions",
            log=lambda m: None,
        )
    finally:
        impl.activate(before)
    seq = report.row("sequential spec K=1", 2)
    assert seq.mismatched_rows == 2, (
        f"both sequential rows end in a wrong token, but the bench counted "
        f"{seq.mismatched_rows}: the reference must not be the sequential runs' own output"
    )
    assert report.row("batched spec K=1", 2).mismatched_rows == 0


def test_rows_whose_code_is_not_written_are_skipped_and_listed():
    # The stubs: only mlx-lm's row can run; every other row is listed with its task, and the
    # table, the skipped lines and the goal line still print (a student's first days).
    before = impl.requested_impl()
    impl.activate("src")
    try:
        draft, target = tiny_pair(0)
        got = run_batch_bench(
            draft,
            target,
            PROMPTS,
            batches=[1, 2],
            ks=[2],
            max_tokens=6,
            repeats=1,
            impl="src",
            log=lambda m: None,
        )
    finally:
        impl.activate(before)
    assert {r.name for r in got.rows} == {MLX_TARGET}, "only the mlx-lm row runs on the stubs"
    tasks = " ".join(got.skipped)
    for row, task in [
        (OWN_TARGET, "batched_generate"),
        ("batched spec", "batched_speculative_generate"),
        ("sequential spec", "SpeculativeDecoder"),
    ]:
        line = next((s for s in got.skipped if s.startswith(f"skipped {row}: ")), "")
        assert task in line, f"{row} must be listed as skipped, naming {task}: {got.skipped}"
    assert "specdec test --week 3 --day 3" in tasks, "each skipped row names its test command"
    console = Console(file=io.StringIO(), width=140)
    render(console, got)
    out = console.file.getvalue()
    assert "3 row(s) skipped" in out and "vs batched target = against" in out
    assert "B=2: batched target (mlx-lm)" in out, "the table says which batched target it used"


def test_batch_and_week4_modes_do_not_need_the_whole_decoder(monkeypatch):
    # Bug caught: `specdec bench --batch 8` stopped at "Week 1 Day 2 task ... is not written
    # yet" (the sweep's decoder preflight) although the batch bench skips unwritten rows.
    from specdec_course.bench import batch, week4
    from specdec_course.commands import cli, demo

    called = []
    monkeypatch.setattr(demo, "preflight", lambda *a, **k: called.append("preflight"))
    monkeypatch.setattr(cli, "_fast_blas", lambda: None)
    monkeypatch.setattr(batch, "bench_batch", lambda *a, **k: 0)
    monkeypatch.setattr(week4, "bench_week4", lambda *a, **k: 0)
    assert cli.main(["bench", "--batch", "8"]) == 0
    assert cli.main(["bench", "--week4"]) == 0
    assert called == [], "--batch and --week4 must not require the sweep's whole decoder"
