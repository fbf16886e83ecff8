"""Run pytest on the task tests in a subprocess and read back the outcomes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from specdec_course.core.impl import ENV_VAR, REPO_ROOT


@dataclass
class TestRun:
    """Outcome of one pytest run.

    Attributes:
        returncode: pytest's exit status.
        records: one dict per test (see ``pytest_plugin``).
        output: captured stdout+stderr ("" when streamed to the terminal).
    """

    returncode: int
    records: list[dict] = field(default_factory=list)
    output: str = ""


def run_pytest(args: list[str], impl: str, *, capture: bool = False) -> TestRun:
    """Run ``pytest ARGS --impl IMPL`` from the repo root and collect the report.

    Args:
        args: extra pytest arguments (paths, ``-m`` expressions, flags).
        impl: ``"src"`` or ``"solutions"``.
        capture: capture the output instead of streaming it to the terminal.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pytest", "--impl", impl, "--specdec-report", str(report), *args]
        env = {**os.environ, ENV_VAR: impl}
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, text=True,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.STDOUT if capture else None)
        records = json.loads(report.read_text()) if report.exists() else []
    return TestRun(proc.returncode, records, proc.stdout or "")


def summarize(records: list[dict]) -> list[tuple[str, str, int, int, str]]:
    """Group test records by test class.

    Returns:
        ``(group, status, passed, total, detail)`` rows where status is
        ``"pass"``, ``"todo"`` (a stub's NotImplementedError) or ``"fail"``.
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        groups[rec["group"]].append(rec)
    rows = []
    for group, recs in groups.items():
        passed = sum(r["outcome"] == "passed" for r in recs)
        todo = [r for r in recs if r["exception"] == "NotImplementedError"]
        failed = [r for r in recs if r["outcome"] != "passed" and r["exception"] != "NotImplementedError"]
        if failed:
            status, detail = "fail", failed[0]["message"] or failed[0]["nodeid"]
        elif todo:
            status, detail = "todo", todo[0]["message"]
        else:
            status, detail = "pass", ""
        rows.append((group, status, passed, len(recs), detail))
    return rows
