"""What a grade looks like: the table, ``junit.xml`` and the student's own report.

Everything shown comes from the submission's messages, so every message is cut to
:data:`SHOWN_CAP` characters and printed as plain text (Rich markup such as ``[/x]`` in a
student's assertion is shown, never interpreted). The student report withholds the hidden
tests' names and messages: it says only how many hidden tests passed.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

#: The longest message any report shows.
SHOWN_CAP = 300


def cap(text: object, limit: int = SHOWN_CAP) -> str:
    """``text`` as a string of at most ``limit`` characters (an ellipsis marks a cut)."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_junit(result: dict, path: Path) -> None:
    """One ``<testsuite>`` per day, one ``<testcase>`` per test (JUnit XML for CI / LMS).

    ``classname`` is the dotted module path plus the class (``tests.test_w1d1_sampling.
    TestLogitsToProbs``), as JUnit readers expect; every case has its ``time``.
    """
    suites = ET.Element("testsuites", name="specdec grade")
    for day in result["days"]:
        tests = day["tests"]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=day["day"],
            tests=str(len(tests)),
            failures=str(day["failed"]),
            errors=str(day["errored"]),
            skipped=str(sum(t["outcome"] == "skipped" for t in tests)),
            time=f"{sum(t.get('duration') or 0 for t in tests):.3f}",
        )
        for t in tests:
            file, _, rest = t["nodeid"].partition("::")
            parts = rest.split("::")
            module = file.removesuffix(".py").replace("/", ".")
            classname = ".".join([module, *parts[:-1]])
            case = ET.SubElement(
                suite,
                "testcase",
                classname=classname,
                name=parts[-1],
                time=f"{t.get('duration') or 0:.3f}",
            )
            message = cap(t.get("message") or t.get("exception") or t["outcome"])
            if t["outcome"] == "error":
                ET.SubElement(case, "error", message=message, type=t.get("exception") or "")
            elif t["outcome"] == "skipped":
                ET.SubElement(case, "skipped", message=message)
            elif t["outcome"] != "passed":
                ET.SubElement(case, "failure", message=message, type=t.get("exception") or "")
    ET.ElementTree(suites).write(path, encoding="unicode", xml_declaration=True)


def student_report(result: dict) -> dict:
    """The grade as a student may see it: hidden tests counted, never named or quoted."""
    days = []
    for day in result["days"]:
        public = [t for t in day["tests"] if not t["hidden"]]
        hidden = [t for t in day["tests"] if t["hidden"]]
        first = (
            day["first_failure"]
            if not day.get("first_failure_hidden")
            else ("a hidden test failed (its name and message are withheld)")
        )
        days.append(
            {
                "day": day["day"],
                "title": day["title"],
                "points": day["points"],
                "max_points": day["max_points"],
                "note": day["note"],
                "first_failure": first,
                "public_tests": [
                    {k: t.get(k) for k in ("nodeid", "outcome", "message")} for t in public
                ],
                "hidden_tests": {
                    "passed": sum(t["outcome"] == "passed" for t in hidden),
                    "total": len(hidden),
                },
            }
        )
    keep = ("points", "max_points", "hidden", "grader", "submission_notes")
    return {**{k: result.get(k) for k in keep}, "days": days}


def write_reports(result: dict, out: Path) -> None:
    """``grade.json`` (instructor), ``student.json`` (shareable) and ``junit.xml``."""
    (out / "grade.json").write_text(json.dumps(result, indent=1))
    (out / "student.json").write_text(json.dumps(student_report(result), indent=1))
    write_junit(result, out / "junit.xml")


def print_grade(console: Console, result: dict) -> None:
    """The grade as a table that fits 80 columns; submission text is never markup."""
    table = Table(
        title=f"grade: {result['points']:g} / {result['max_points']:g}"
        + (" (public + hidden)" if result["hidden"] else " (public tests)")
    )
    table.add_column("day", no_wrap=True)
    table.add_column("pts", justify="right", no_wrap=True)
    table.add_column("ok", justify="right", no_wrap=True)
    table.add_column("first problem", overflow="fold")
    for d in result["days"]:
        total = d["passed"] + d["failed"] + d["errored"]
        detail = cap(d["first_failure"]) + (f" [{cap(d['note'])}]" if d["note"] else "")
        table.add_row(
            d["day"],
            f"{d['points']:g}/{d['max_points']:g}",
            f"{d['passed']}/{total}",
            Text(detail),
        )
    console.print(table)
    for note in result.get("submission_notes", []):
        console.print(Text(cap(note), style="yellow"))
    console.print(
        f"[dim]pts = points / day's points, ok = tests passed; {result['seconds']} s; "
        f"rubric {escape(result['grader']['rubric_sha256'][:12])}[/dim]"
    )
