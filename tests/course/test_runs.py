"""Recorded runs: chapter figures regenerated from book/runs, stale ones caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specdec_course.authoring import runs
from specdec_course.authoring.run_views import render_view


def _rows() -> list[dict]:
    def row(name: str, k: int | None, tps: float, calls: float, acc: float) -> dict:
        return {
            "name": name,
            "k": k,
            "seconds": 1.0,
            "tokens": 1024,
            "tokens_per_s": tps,
            "speedup": 9.99,
            "speedup_low": 0.0,
            "speedup_high": 0.0,
            "target_calls_per_token": calls,
            "accepted_per_round": acc,
            "mismatches": 0,
        }

    return [
        row("target-only", None, 58.0, 1.0, 0.0),
        row("fast loop", 6, 111.1, 0.33, 2.15),
        row("mlx-lm speculative", 6, 104.4, 0.33, 2.16),
    ]


@pytest.fixture
def book(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A chapter with one table block and one inline figure, its run, and two model folders."""
    models = tmp_path / "models"
    for folder in runs.MODEL_FOLDERS:
        (models / folder).mkdir(parents=True)
        (models / folder / "model.safetensors").write_bytes(folder.encode())
    run = {
        "name": "w4",
        "mode": "week4",
        "command": "uv run specdec bench --week4 6",
        "commit": "0123456789abcdef",
        "dirty_files": [],
        "recorded_at": "2026-12-03 13:00 UTC",
        "seed": 0,
        "load_average_before": [0.5, 0.4, 0.3],
        "load_average_after": [2.1, 1, 1],
        "cpus": 2,
        "blas": "OpenBLAS",
        "device": "Device(cpu, 0)",
        "model_sha256": runs.model_hashes(models),
        "result": {"rows": _rows(), "n_prompts": 8, "max_tokens": 128, "k": 6, "repeats": 2},
    }
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (runs_dir / "w4.json").write_text(json.dumps(run))
    src = tmp_path / "src"
    src.mkdir()
    (src / "chapter.md").write_text(
        "# Measured\n\n<!-- run: w4 table -->\n<!-- /run -->\n\n"
        "The fast loop made <!-- run: w4 speedup fast loop --><!-- /run --> target-only and "
        "<!-- run: w4 ratio fast loop; mlx-lm speculative --><!-- /run --> mlx-lm.\n"
    )
    return src, runs_dir, models


def test_write_fills_the_blocks_from_the_run_and_then_the_check_is_clean(book):
    src, runs_dir, models = book
    assert runs.expand_chapters(src, runs_dir, write=True) == []
    text = (src / "chapter.md").read_text()
    # vs target-only is tok/s over the target-only row's tok/s, never the bench's stored ratio
    assert "| fast loop | 6 | 111.1 | 1.92x | 0.33 | 2.15 |" in text
    assert "9.99" not in text, "the table copied the bench's per-repeat ratio instead of tok/s"
    assert "The fast loop made <!-- run: w4 speedup fast loop -->1.92x<!-- /run -->" in text
    assert "1.06x<!-- /run --> mlx-lm." in text  # 111.1 / 104.4
    assert "`uv run specdec bench --week4 6`" in text and "load average 0.5 before" in text
    assert runs.run_problems(src, runs_dir, models) == []


def test_a_stale_figure_fails_the_check(book):
    src, runs_dir, models = book
    runs.expand_chapters(src, runs_dir, write=True)
    chapter = src / "chapter.md"
    chapter.write_text(chapter.read_text().replace("1.92x<!-- /run -->", "2.05x<!-- /run -->"))
    problems = runs.run_problems(src, runs_dir, models)
    assert len(problems) == 1 and "differs from its recorded run" in problems[0], problems
    # ... and a hand-edited table cell too
    runs.expand_chapters(src, runs_dir, write=True)
    chapter.write_text(chapter.read_text().replace("| 111.1 |", "| 110.3 |"))
    assert any("chapter.md" in p for p in runs.run_problems(src, runs_dir, models))


def test_a_run_on_other_model_files_fails_the_check(book):
    src, runs_dir, models = book
    runs.expand_chapters(src, runs_dir, write=True)
    (models / "specdec-target" / "README.md").write_text("a reworded model card")
    assert runs.run_problems(src, runs_dir, models) == [], "a model card is not a model file"
    (models / "specdec-target" / "model.safetensors").write_bytes(b"retrained")
    problems = runs.run_problems(src, runs_dir, models)
    assert len(problems) == 1 and "specdec-target/model.safetensors" in problems[0], problems


def test_a_missing_run_or_view_is_a_problem_not_a_crash(book):
    src, runs_dir, models = book
    (src / "other.md").write_text(
        "x <!-- run: nope table --><!-- /run --> and <!-- run: w4 sweep --><!-- /run -->\n"
    )
    problems = runs.expand_chapters(src, runs_dir, write=True)
    assert any("nope" in p and "does not exist" in p for p in problems), problems
    assert any("no view 'sweep'" in p for p in problems), problems


def test_an_inline_marker_at_a_line_start_is_refused(book):
    src, runs_dir, _ = book
    # CommonMark would turn a line-initial comment into an HTML block and break the paragraph.
    (src / "other.md").write_text("Some words\n<!-- run: w4 speedup fast loop --><!-- /run -->\n")
    problems = runs.expand_chapters(src, runs_dir, write=True)
    assert any("starts a line" in p for p in problems), problems


def test_bad_view_arguments_raise():
    run = {"name": "w4", "mode": "week4", "result": {"rows": _rows()}}
    with pytest.raises(ValueError):
        render_view(run, "ratio", "fast loop")
    with pytest.raises(KeyError):
        render_view(run, "speedup", "no such row")


def test_bench_mode_and_seed_come_from_the_arguments():
    assert runs.bench_mode(["--impl", "solutions", "--week4", "6"]) == "week4"
    assert runs.bench_mode(["--batch", "1", "8"]) == "batch"
    assert runs.bench_mode(["--k", "0", "2"]) == "sweep"
    with pytest.raises(ValueError, match="--out"):
        runs.record("x", ["--out", "elsewhere"])


def test_the_book_matches_its_recorded_runs():
    assert runs.run_problems() == []
