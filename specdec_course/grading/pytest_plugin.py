"""pytest plugin: the ``--impl`` switch, the task-marker rule and a JSON report.

Loaded for every run through ``addopts = -p specdec_course.grading.pytest_plugin``.

* ``--impl src|solutions`` imports ``specdec`` from that directory before any
  test module is collected; the header line says which one and where.
* Task tests live in ``tests/test_wNdM_*.py`` and each carries exactly one
  ``wNdM`` marker, the one its file name announces. A test that breaks the rule
  stops the whole run at collection time, so a mislabelled test can never be
  graded under the wrong chapter.
* ``--specdec-report FILE`` writes one JSON record per test (outcome, exception
  type and message) for ``specdec test`` and ``specdec check``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from specdec_course.core import impl

TASK_MARKER = re.compile(r"^w(\d+)d(\d+)$")
TASK_FILE = re.compile(r"^test_(w\d+d\d+)_\w+\.py$")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--impl`` and ``--specdec-report``."""
    group = parser.getgroup("specdec")
    group.addoption(
        "--impl",
        choices=sorted(impl.IMPLEMENTATIONS),
        default=None,
        help="which specdec to test: src (student code, default) or solutions (reference). "
        f"Defaults to ${impl.ENV_VAR} or src.",
    )
    group.addoption("--specdec-report", default=None, help="write per-test outcomes as JSON here")


def pytest_configure(config: pytest.Config) -> None:
    """Import the chosen implementation before collection starts."""
    impl.activate(config.getoption("--impl"))
    config._specdec_records = []  # type: ignore[attr-defined]


def pytest_report_header(config: pytest.Config) -> str:
    """Say which implementation the tests run against, and from where."""
    return impl.describe()


def task_markers(item: pytest.Item) -> list[str]:
    """The ``wNdM`` marker names on a test item."""
    return [m.name for m in item.iter_markers() if TASK_MARKER.match(m.name)]


def task_of_file(path: Path) -> str | None:
    """``"w1d4"`` for ``tests/test_w1d4_verify.py``; ``None`` for other files."""
    match = TASK_FILE.match(path.name)
    return match.group(1) if match else None


def marker_problems(items: list[pytest.Item]) -> list[str]:
    """Every violation of the one-task-marker rule among ``items``."""
    problems = []
    for item in items:
        expected = task_of_file(Path(str(item.path)))
        found = task_markers(item)
        if expected is None:
            if found:
                problems.append(f"{item.nodeid}: not in a task file but marked {found}")
        elif found != [expected]:
            problems.append(
                f"{item.nodeid}: needs exactly one task marker @pytest.mark.{expected}, found {found or 'none'}"
            )
    return problems


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail the run if any task test lacks its one ``wNdM`` marker."""
    problems = marker_problems(items)
    if problems:
        raise pytest.UsageError("task-marker rule broken:\n  " + "\n  ".join(problems))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Record each test's outcome and, on failure, the exception behind it."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and not report.passed):
        exc = call.excinfo
        item.config._specdec_records.append(  # type: ignore[attr-defined]
            {
                "nodeid": item.nodeid,
                "task": (task_markers(item) or [None])[0],
                "group": item.cls.__name__ if getattr(item, "cls", None) else item.module.__name__,
                "outcome": "skipped" if report.skipped else report.outcome,
                "exception": exc.type.__name__ if exc else None,
                "message": str(exc.value).strip().splitlines()[0][:300] if exc and str(exc.value).strip() else "",
            }
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the JSON report when asked for one."""
    path = session.config.getoption("--specdec-report")
    if path:
        Path(path).write_text(json.dumps(session.config._specdec_records, indent=1))  # type: ignore[attr-defined]
