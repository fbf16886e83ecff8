"""pytest plugin: the ``--impl`` switch, the task-marker rule and a JSON report.

Loaded for every run through ``addopts = -p specdec_course.grading.pytest_plugin``.

* ``--impl NAME`` (src or the reference) imports ``specdec`` from that directory before any
  test module is collected; the header line says which one and where.
* Task tests live in ``tests/test_wNdM_*.py`` and each carries exactly one
  ``wNdM`` marker, the one its file name announces. A test that breaks the rule
  stops the whole run at collection time, so a mislabelled test can never be
  graded under the wrong chapter.
* ``--specdec-report FILE`` writes one JSON record per test (outcome, exception
  type and message) for ``specdec test`` and ``specdec check``. Under ``specdec grade`` the
  records go over a signed channel instead (``use_channel``; see ``grading/channel.py``).
* A test that fails with a stub's own ``NotImplementedError`` is reported in one
  line ("not written yet: W1D1 `logits_to_probs`") instead of a traceback that
  repeats the stub's docstring; every other failure keeps its full detail.
* ``tests/hidden`` (instructor-only) is never collected unless named on the
  command line (``norecursedirs`` in pyproject.toml).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from specdec_course.core import impl
from specdec_course.core.tasks import chapter_of_stub_message

TASK_MARKER = re.compile(r"^w(\d+)d(\d+)$")
#: Seconds a task test may run before it fails as "no progress" (each day's suite takes
#: seconds; pytest's --timeout or a test's own timeout marker wins).
TASK_TEST_TIMEOUT_S = 60
TASK_FILE = re.compile(r"^test_(w\d+d\d+)_\w+\.py$")

# The session's config, for hooks that pytest calls without one.
_CONFIG: pytest.Config | None = None
# Under `specdec grade` only (set by grading/worker.py before the submission is imported):
# the signed verdict channel and the tamper check. Never a path on the command line.
_CHANNEL = None
_TAMPERED = None
#: How much of a message travels to the grader (its reports cut again, shorter).
CHANNEL_MESSAGE_CAP = 2000


# Under the grader: each test's own timeout, and whether a timeout already happened in this
# day (then the rest of a task whose test ran out of time is not run: it earns nothing).
_TIMEOUTS: dict[str, float] = {}
_STRICT_TIMEOUTS: dict[str, float] = {}
_TIMED_OUT_TASKS: set[str] = set()


def use_channel(
    sender,
    tampered,
    timeouts: dict[str, float] | None = None,
    strict_timeouts: dict[str, float] | None = None,
) -> None:
    """Send every verdict through ``sender`` (a ``channel.Sender``).

    ``tampered()`` lists the test machinery's bindings the submission changed (an empty list
    when none); ``timeouts`` gives each test id its own pytest-timeout, ``strict_timeouts``
    the shorter one it gets once a test of the day has run out of time (an endless loop).
    """
    global _CHANNEL, _TAMPERED
    _CHANNEL, _TAMPERED = sender, tampered
    _TIMEOUTS.update(timeouts or {})
    _STRICT_TIMEOUTS.update(strict_timeouts or {})


def _skip_group(nodeid: str) -> str:
    # A test class is one task's tests; the tests outside classes of one file go together
    # here (only for skipping after a timeout: a day's points still count them one by one).
    parts = nodeid.split("::")
    return "::".join(parts[:2]) if len(parts) > 2 else parts[0]


def _after_a_timeout(item: pytest.Item) -> None:
    _TIMED_OUT_TASKS.add(_skip_group(item.nodeid))
    items = item.session.items
    for later in items[items.index(item) + 1 :] if item in items else []:
        if later.nodeid in _STRICT_TIMEOUTS:
            later.add_marker(pytest.mark.timeout(_STRICT_TIMEOUTS[later.nodeid]), append=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Under the grader: skip the rest of a task one of whose tests ran out of time."""
    if _CHANNEL is not None and _skip_group(item.nodeid) in _TIMED_OUT_TASKS:
        pytest.skip("not run: an earlier test of this task ran out of time")


# Under the grader: pytest's plugins and the report hooks' implementations as they were when
# the session started, before any test module (and so any submitted module) was imported.
# (A dict filled in place: the worker's snapshot of this module's names stays valid.)
_HOOKS_AT_START: dict[str, tuple] = {}
GUARDED_HOOKS = (
    "pytest_runtest_makereport",
    "pytest_runtest_protocol",
    "pytest_runtest_call",
    "pytest_runtest_setup",
    "pytest_pyfunc_call",
    "pytest_runtest_logreport",
    "pytest_report_teststatus",
)


def _hook_state(config: pytest.Config) -> tuple:
    hooks = tuple(
        tuple(impl.function for impl in getattr(config.hook, name).get_hookimpls())
        for name in GUARDED_HOOKS
    )
    return hooks, frozenset(map(id, config.pluginmanager.get_plugins()))


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """Under the grader: remember the hooks, to see later whether a submission added one.

    Collection imports the test modules, and so the submission: pytest's own plugins are
    all registered by now (the fixture manager at session start), no submitted code ran.
    """
    if _CHANNEL is not None:
        _HOOKS_AT_START["state"] = _hook_state(session.config)


def _hooks_changed(config: pytest.Config) -> list[str]:
    if "state" not in _HOOKS_AT_START:
        return []
    (hooks_then, plugins_then), (hooks, plugins) = _HOOKS_AT_START["state"], _hook_state(config)
    changed = [n for n, a, b in zip(GUARDED_HOOKS, hooks, hooks_then, strict=True) if a != b]
    if plugins != plugins_then:
        new = [p for p in config.pluginmanager.get_plugins() if id(p) not in plugins_then]
        changed.append("pytest's plugin list " + repr(new)[:300])
    return changed


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under the grader: the ids about to run, in order."""
    if _CHANNEL is not None:
        _CHANNEL.send("collected", ids=[item.nodeid for item in session.items])


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Under the grader: a module that could not be collected, with the real error."""
    if _CHANNEL is not None and report.failed:
        text = str(report.longrepr)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        where = next((ln.strip() for ln in reversed(lines) if ".py:" in ln), "")
        last = lines[-1].strip() if lines else "collection failed"
        _CHANNEL.send(
            "collect_error",
            nodeid=report.nodeid,
            message=f"{last} ({where})"[:CHANNEL_MESSAGE_CAP] if where else last,
        )


def pytest_runtest_logstart(nodeid: str, location) -> None:
    """Under the grader: which test is running (a crash is charged to it alone)."""
    if _CHANNEL is not None:
        _CHANNEL.send("start", nodeid=nodeid)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--impl`` and ``--specdec-report``."""
    group = parser.getgroup("specdec")
    group.addoption(
        "--impl",
        choices=sorted(impl.IMPLEMENTATIONS),
        default=None,
        help="which specdec to test: src (student code, default)"
        + (f" or {impl.REFERENCE_IMPL} (the reference)" if impl.REFERENCE_IMPL else "")
        + f". Defaults to ${impl.ENV_VAR} or src.",
    )
    group.addoption("--specdec-report", default=None, help="write per-test outcomes as JSON here")


def pytest_configure(config: pytest.Config) -> None:
    """Import the chosen implementation before collection starts."""
    global _CONFIG
    impl.activate(config.getoption("--impl"))
    config._specdec_records = []  # type: ignore[attr-defined]
    _CONFIG = config


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
                f"{item.nodeid}: needs exactly one task marker @pytest.mark.{expected}, "
                f"found {found or 'none'}"
            )
    return problems


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail the run if any task test lacks its one ``wNdM`` marker."""
    problems = marker_problems(items)
    if problems:
        raise pytest.UsageError("task-marker rule broken:\n  " + "\n  ".join(problems))
    for item in items:
        if item.nodeid in _TIMEOUTS:
            item.add_marker(pytest.mark.timeout(_TIMEOUTS[item.nodeid]))
        elif task_markers(item) and item.get_closest_marker("timeout") is None:
            # A task test takes seconds; a loop that never emits a token must not hang
            # `specdec test` forever. The summary names the likely bug (runner.failure_hint).
            if not config.getoption("timeout", None):
                item.add_marker(pytest.mark.timeout(TASK_TEST_TIMEOUT_S))


STUB_MESSAGE = re.compile(r"^Week (\d+) Day (\d+) task `([^`]+)` is not written yet")
UNWRITTEN = "not written"  # the terminal's category (and closing-line word) for stub failures


def unwritten_label(exc: BaseException | None) -> str | None:
    """``"W1D1 `logits_to_probs`"`` when ``exc`` is a stub's own NotImplementedError."""
    if not isinstance(exc, NotImplementedError):
        return None
    message = str(exc)
    match = STUB_MESSAGE.match(message)
    if match is None or chapter_of_stub_message(message) is None:
        return None  # a NotImplementedError the student raised: a real failure
    return f"W{match.group(1)}D{match.group(2)} `{match.group(3)}`"


def whole_first_line(text: str) -> str:
    """The first line of a message, continued while a bracket it opened is still open.

    ``"expected [1, 2], got [\n 3, 4]"`` must not be cut at ``"got ["``: array
    reprs span lines, so the lines are joined (whitespace collapsed) until every
    ``[``/``(``/``{`` of the first line is closed. The rest (pytest's
    ``assert ...`` introspection) is left out.
    """
    lines = text.strip().splitlines()
    if not lines:
        return ""
    out, depth = [], 0
    for line in lines:
        out.append(line.strip())
        depth += sum(line.count(c) for c in "[({") - sum(line.count(c) for c in "])}")
        if depth <= 0:
            break
    return " ".join(out)


def _raised_where(excinfo: pytest.ExceptionInfo, root: Path) -> tuple[str, bool]:
    # The innermost frame: "sampling.py:57" and whether it lies in the task package
    # (student code) rather than in a test or the course machinery.
    entry = excinfo.traceback[-1]
    path = Path(str(entry.path))
    in_task = "specdec" in path.parts[:-1] and path.parent.name == "specdec"
    try:
        shown = str(path.resolve().relative_to(root))
    except ValueError:
        shown = path.name
    return f"{shown}:{entry.lineno + 1}", in_task


@pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_for_stubs(
    item: pytest.Item, call: pytest.CallInfo
) -> pytest.TestReport | None:
    """Report a stub's own NotImplementedError without formatting its traceback.

    pytest would render the whole traceback only for the wrapper below to replace it
    with one line; on untouched stubs that rendering was most of the run's time.
    """
    exc = call.excinfo
    label = unwritten_label(exc.value) if exc is not None else None
    if label is None or call.when == "teardown":
        return None  # pytest's own report
    sections = [(f"Captured {key} {when}", text) for when, key, text in item._report_sections]
    return pytest.TestReport(
        item.nodeid,
        item.location,
        dict.fromkeys(item.keywords, 1),
        "failed",
        f"not written yet: {label}",
        call.when,
        sections,
        call.duration,
        call.start,
        call.stop,
        user_properties=item.user_properties,
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Record each test's outcome and, on failure, the exception behind it.

    A failure caused by an unwritten stub gets a one-line report instead of
    its traceback.
    """
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and not report.passed):
        exc = call.excinfo
        label = unwritten_label(exc.value) if exc and report.failed else None
        where, in_task = _raised_where(exc, item.config.rootpath) if exc else ("", False)
        if label:
            report.specdec_unwritten = label  # type: ignore[attr-defined]
            report.longrepr = f"not written yet: {label}"
        record = {
            "nodeid": item.nodeid,
            "task": (task_markers(item) or [None])[0],
            "group": item.cls.__name__ if getattr(item, "cls", None) else item.module.__name__,
            "test": getattr(item, "originalname", None) or item.name,
            "outcome": "skipped" if report.skipped else report.outcome,
            "exception": exc.type.__name__ if exc else None,
            "message": whole_first_line(str(exc.value)) if exc else "",
            "where": where,
            "in_task_code": in_task,
            "unwritten": label,
            "duration": round(report.duration, 4),
        }
        # The record rides on the report: under pytest-xdist reports (with their extra
        # attributes) travel from the workers to the controller, which collects them in
        # pytest_runtest_logreport; without xdist the same hook sees them in-process.
        report.specdec_record = record  # type: ignore[attr-defined]
        if _CHANNEL is not None:
            # One record per test as it finishes: a run killed by a crash or a time cap
            # still leaves the finished tests behind. A submission that patched the test
            # machinery gets no verdict it could have forged.
            changed = (_TAMPERED() if _TAMPERED is not None else []) + _hooks_changed(item.config)
            sent = dict(record)
            sent["message"] = (sent["message"] or "")[:CHANNEL_MESSAGE_CAP]
            if changed:
                sent.update(
                    outcome="error",
                    exception="Tampering",
                    message="the submission changed the test machinery: " + ", ".join(changed[:5]),
                )
            if sent["exception"] == "Failed" and sent["message"].startswith("Timeout"):
                _after_a_timeout(item)
            _CHANNEL.send("result", **sent)


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    """File stub failures under their own category, so no traceback section shows them."""
    label = getattr(report, "specdec_unwritten", None)
    if label and report.failed:
        return UNWRITTEN, "N", (f"NOT WRITTEN ({label})", {"yellow": True})
    return None


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line per unwritten task, with how many tests wait for it (not one per test)."""
    reports = terminalreporter.stats.get(UNWRITTEN, [])
    if not reports:
        return
    waiting: dict[str, list[str]] = {}
    for rep in reports:
        waiting.setdefault(rep.specdec_unwritten, []).append(rep.nodeid.split("::", 1)[-1])
    terminalreporter.section("tasks not written yet", sep="=", yellow=True)
    for label, tests in waiting.items():
        # With one test, its name says where to look; with many, the count is enough.
        which = f"({tests[0]})" if len(tests) == 1 else f"({len(tests)} tests)"
        terminalreporter.line(f"not written yet: {label}  {which}")


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect the records of finished tests (in the controller under pytest-xdist)."""
    record = getattr(report, "specdec_record", None)
    if record is not None and _CONFIG is not None and not hasattr(_CONFIG, "workerinput"):
        _CONFIG._specdec_records.append(record)  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the JSON report when asked for one (by the controller only, under xdist)."""
    path = session.config.getoption("--specdec-report")
    if path and not hasattr(session.config, "workerinput"):
        Path(path).write_text(json.dumps(session.config._specdec_records, indent=1))  # type: ignore[attr-defined]
