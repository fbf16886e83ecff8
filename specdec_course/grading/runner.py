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

from rich.console import Group
from rich.table import Table
from rich.text import Text

from specdec_course.core.blas import fast_blas_env
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
        impl: a key of ``core.impl.IMPLEMENTATIONS`` (``"src"`` or the reference).
        capture: capture the output instead of streaming it to the terminal.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "--impl",
            impl,
            "--specdec-report",
            str(report),
            *args,
        ]
        env = {**fast_blas_env(os.environ), ENV_VAR: impl}
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
        )
        records = json.loads(report.read_text()) if report.exists() else []
    return TestRun(proc.returncode, records, proc.stdout or "")


def failure_hint(rec: dict) -> str:
    """What a summary cell says about one failed test record.

    The test author's assertion message names the bug, so it is shown whole
    (its first logical line). An exception raised elsewhere says little by its
    own text (``no positive mass``, ``IndexError``), so the cell names the test,
    what was raised and where instead, and points at the traceback above.
    """
    exc, message, test = rec.get("exception"), rec.get("message") or "", rec.get("test") or "?"
    where = rec.get("where") or ""
    if exc == "AssertionError" and message:
        return message
    if exc == "Failed" and message.startswith("DID NOT RAISE"):
        expected = message.removeprefix("DID NOT RAISE").strip().strip("<>").replace("class ", "")
        return f"`{test}` expects {expected.strip(chr(39))} for this input; your code raised none"
    if exc == "Failed" and message.startswith("Timeout"):
        return (
            f"no progress: `{test}` ran out of time ({message.split(' from')[0]}). A loop that "
            "never ends: does every round emit at least one token and move the position on, "
            "and does the loop stop at the token budget and at EOS?"
        )
    if exc is None:
        return f"`{test}` {rec.get('outcome', 'failed')}: see its report above"
    place = "in your code" if rec.get("in_task_code") else "in the test"
    return f"`{test}`: {exc} raised {place} at {where}; see its traceback above"


def summarize(records: list[dict]) -> list[tuple[str, str, int, int, str]]:
    """Group test records by test class.

    Returns:
        ``(group, status, passed, total, detail)`` rows where status is
        ``"pass"``, ``"todo"`` (a stub's NotImplementedError) or ``"fail"``;
        ``detail`` is the first failure's hint (see :func:`failure_hint`) or
        the unwritten task to write.
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        groups[rec["group"]].append(rec)
    rows = []
    for group, recs in groups.items():
        passed = sum(r["outcome"] == "passed" for r in recs)
        todo = [r for r in recs if r["exception"] == "NotImplementedError"]
        failed = [r for r in recs if r["outcome"] not in ("passed", "skipped") and r not in todo]
        if failed:
            status, detail = "fail", failure_hint(failed[0])
        elif todo:
            label = todo[0].get("unwritten")
            status, detail = "todo", f"write {label}" if label else todo[0]["message"]
        else:
            status, detail = "pass", ""
        rows.append((group, status, passed, len(recs), detail))
    return rows


STATUS_MARKS = {
    "pass": "[green]✓[/green]",
    "todo": "[yellow]…[/yellow]",
    "fail": "[red]✗[/red]",
}
LEGEND = "✓ passing  … not written yet  ✗ failing (first failure; details above)"


def summary_table(records: list[dict], title: str) -> Group:
    """The per-group summary as a table that fits an 80-column terminal.

    Short headers (``ok`` = passed/total) and a one-line legend under the
    table keep the fixed columns narrow, so the hint column gets the width and
    wraps whole.
    """
    table = Table(title=title, expand=False)
    table.add_column("tests", overflow="fold")
    table.add_column("", no_wrap=True)
    table.add_column("ok", no_wrap=True, justify="right")
    table.add_column("what to do", overflow="fold")
    for group, status, passed, total, detail in summarize(records):
        table.add_row(group, STATUS_MARKS[status], f"{passed}/{total}", Text(detail))
    return Group(table, Text(LEGEND, style="dim"))
