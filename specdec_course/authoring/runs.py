"""Recorded runs: measured figures in the book come from files, never from a keyboard.

A *recorded run* is one ``specdec bench ...`` invocation saved as ``book/runs/<name>.json``:
the bench's own result JSON plus what it takes to trust and repeat it (commit, sha256 of
every bundled model file, BLAS line, device, load average before and after, seed, and the
exact command). Chapters quote a run through markers that this module regenerates::

    <!-- run: w4-k6 table -->            (a block: the open marker alone on its line)
    ...generated table and its provenance line...
    <!-- /run -->
    the fast loop made <!-- run: w4-k6 speedup fast loop -->1.92x<!-- /run --> ...

Commands (run from the repository root)::

    python -m specdec_course.authoring.runs record NAME -- --impl solutions --week4 --repeats 2
    python -m specdec_course.authoring.runs --write    # regenerate every chapter's blocks
    python -m specdec_course.authoring.runs            # list the problems (what the check says)

:func:`run_problems` is the ``specdec check`` step: a chapter whose block differs from what
its run gives, a marker naming a missing run or an unknown view, or a run recorded on model
files other than the bundled ones, is a problem.

May import: ``core`` (the views in :mod:`.run_views` read JSON only, no MLX).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from specdec_course.authoring.run_views import render_view
from specdec_course.core.paths import REPO_ROOT

BOOK_SRC = REPO_ROOT / "book" / "src"
RUNS_DIR = REPO_ROOT / "book" / "runs"
MODELS_DIR = REPO_ROOT / "models"
#: The bundled model folders whose files a run's figures depend on.
MODEL_FOLDERS = ("specdec-draft", "specdec-target")
#: Files that do not change what a model computes (a model card may be reworded freely).
NOT_HASHED = {"README.md"}
#: Result file each bench mode writes under ``--out`` (the mode is read from the arguments).
RESULT_FILES = {
    "sweep": "bench.json",
    "batch": "batch.json",
    "week4": "week4.json",
    "serve": "serve.json",
}

MARKER = re.compile(
    r"<!-- run: (?P<name>[\w.-]+) (?P<view>[\w-]+)(?: (?P<arg>[^>]*?))? -->"
    r"(?P<body>.*?)<!-- /run -->",
    re.DOTALL,
)


def model_hashes(models_dir: Path = MODELS_DIR) -> dict[str, str]:
    """sha256 of every file of the bundled pair but its model cards, keyed ``folder/file``."""
    hashes = {}
    for folder in MODEL_FOLDERS:
        for path in sorted((models_dir / folder).glob("*")):
            if path.is_file() and path.name not in NOT_HASHED:
                hashes[f"{folder}/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
    # rstrip only: a porcelain status line starts with a meaningful space.
    return proc.stdout.rstrip() if proc.returncode == 0 else "unknown"


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not every platform has a load average
        return []


def _mlx_device() -> str:
    # The K sweep's JSON names no device; ask MLX the way the bench does.
    code = "import mlx.core as mx; print(f'{mx.default_device()} (mlx {mx.__version__})')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def bench_mode(bench_args: list[str]) -> str:
    """``week4``, ``batch``, ``serve`` or ``sweep``: which result file a bench invocation writes."""
    if "--week4" in bench_args:
        return "week4"
    if "--serve" in bench_args:
        return "serve"
    return "batch" if "--batch" in bench_args else "sweep"


def _seed(bench_args: list[str]) -> int:
    if "--seed" in bench_args:
        return int(bench_args[bench_args.index("--seed") + 1])
    return 0  # specdec bench's default


def record(name: str, bench_args: list[str], note: str = "") -> Path:
    """Run ``specdec bench BENCH_ARGS`` and save its result with provenance as a recorded run.

    Args:
        name: the run's name; the file is ``book/runs/<name>.json``.
        bench_args: the arguments after ``specdec bench`` (``--out`` is chosen here).
        note: free text kept with the run (why it was made, what else ran).

    Returns:
        The path written.

    Raises:
        RuntimeError: when the bench fails or writes no result.
    """
    if "--out" in bench_args:
        raise ValueError("record chooses --out itself; leave it out")
    mode = bench_mode(bench_args)
    with tempfile.TemporaryDirectory() as tmp:
        # The code measured is the tree as it was when the bench started.
        commit = _git("rev-parse", "HEAD")
        status = _git("status", "--porcelain", "--untracked-files=no")
        dirty = [line[3:] for line in status.splitlines()]
        load_before = _load()
        start = time.time()
        cmd = [
            sys.executable,
            "-m",
            "specdec_course.commands.cli",
            "bench",
            *bench_args,
            "--out",
            tmp,
        ]
        proc = subprocess.run(cmd, cwd=REPO_ROOT)
        seconds = time.time() - start
        load_after = _load()
        result_path = Path(tmp) / RESULT_FILES[mode]
        if not result_path.exists():
            raise RuntimeError(
                f"specdec bench exited {proc.returncode} and wrote no {result_path.name}"
            )
        result = json.loads(result_path.read_text())
    run = {
        "name": name,
        "command": "uv run specdec bench " + shlex.join(bench_args),
        "mode": mode,
        "exit_status": proc.returncode,
        "commit": commit,
        "dirty_files": dirty,
        "recorded_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(start)),
        "seconds": round(seconds, 1),
        "seed": _seed(bench_args),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cpus": os.cpu_count(),
        "blas": result.get("blas", "unknown"),
        "device": result.get("device") or _mlx_device(),
        "model_sha256": model_hashes(),
        "note": note,
        "result": result,
    }
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    path = RUNS_DIR / f"{name}.json"
    path.write_text(json.dumps(run, indent=2, ensure_ascii=False) + "\n")
    return path


def load_runs(runs_dir: Path = RUNS_DIR) -> dict[str, dict[str, Any]]:
    """Every recorded run, by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(runs_dir.glob("*.json"))}


def _expand(text: str, runs: dict[str, dict[str, Any]], where: str, problems: list[str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, view, arg = m["name"], m["view"], (m["arg"] or "").strip()
        if name not in runs:
            problems.append(
                f"{where}: marker names run {name!r}, but book/runs/{name}.json does not exist"
            )
            return m[0]
        try:
            body = render_view(runs[name], view, arg)
        except (KeyError, ValueError) as err:
            problems.append(f"{where}: run {name!r} view {view!r} {arg!r}: {err}")
            return m[0]
        block = m["body"].startswith("\n")
        line_start = m.start() == 0 or text[m.start() - 1] == "\n"
        if not block and line_start:
            # CommonMark starts an HTML block at a line-initial comment and ends the paragraph.
            problems.append(
                f"{where}: inline run marker {m[0][:40]!r}... starts a line; "
                "move it after some words"
            )
        # Blank lines around a block keep its table a Markdown table, not part of the HTML.
        body = f"\n\n{body}\n\n" if block else body
        return f"<!-- run: {name} {view}{' ' + arg if arg else ''} -->{body}<!-- /run -->"

    return MARKER.sub(sub, text)


def expand_chapters(
    book_src: Path = BOOK_SRC, runs_dir: Path = RUNS_DIR, *, write: bool = False
) -> list[str]:
    """Regenerate every run block in the chapters; returns the problems found.

    Without ``write`` a chapter whose text would change is a problem (a stale figure);
    with ``write`` it is rewritten instead.
    """
    runs = load_runs(runs_dir)
    problems: list[str] = []
    for chapter in sorted(book_src.glob("*.md")):
        text = chapter.read_text()
        if "<!-- run:" not in text:
            continue
        new = _expand(text, runs, chapter.name, problems)
        if new == text:
            continue
        if write:
            chapter.write_text(new)
        else:
            stale = [
                m.group(0)[:60]
                for m, n in zip(MARKER.finditer(text), MARKER.finditer(new), strict=False)
                if m.group(0) != n.group(0)
            ]
            for block in stale:
                problems.append(
                    f"{chapter.name}: a figure differs from its recorded run: "
                    f"{block!r}... (python -m specdec_course.authoring.runs --write)"
                )
    return problems


def model_problems(runs_dir: Path = RUNS_DIR, models_dir: Path = MODELS_DIR) -> list[str]:
    """Recorded runs made on model files other than the bundled ones."""
    bundled = model_hashes(models_dir)
    problems = []
    for name, run in load_runs(runs_dir).items():
        # Model cards are not hashed (a run recorded before that rule still lists them).
        recorded = {
            k: v
            for k, v in run.get("model_sha256", {}).items()
            if k.rsplit("/", 1)[-1] not in NOT_HASHED
        }
        if recorded != bundled:
            changed = sorted(
                k for k in set(bundled) | set(recorded) if bundled.get(k) != recorded.get(k)
            )
            problems.append(
                f"book/runs/{name}.json was recorded on other model files "
                f"({', '.join(changed)}): record it again"
            )
    return problems


def run_problems(
    book_src: Path = BOOK_SRC, runs_dir: Path = RUNS_DIR, models_dir: Path = MODELS_DIR
) -> list[str]:
    """The ``specdec check`` step: stale run blocks and runs made on other models."""
    return expand_chapters(book_src, runs_dir) + model_problems(runs_dir, models_dir)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``record NAME -- BENCH_ARGS``, ``--write`` or (no arguments) check."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["record"]:
        parser = argparse.ArgumentParser(prog="runs record")
        parser.add_argument("name")
        parser.add_argument("--note", default="")
        split = argv.index("--") if "--" in argv else len(argv)
        opts = parser.parse_args(argv[1:split])
        print(f"wrote {record(opts.name, argv[split + 1 :], opts.note)}")
        return 0
    parser = argparse.ArgumentParser(prog="python -m specdec_course.authoring.runs")
    parser.add_argument("--write", action="store_true", help="regenerate the chapters' blocks")
    opts = parser.parse_args(argv)
    if opts.write:
        problems = expand_chapters(write=True) + model_problems()
    else:
        problems = run_problems()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
