"""Friendly output: one line per unwritten stub, whole first lines, 80-column tables."""

from rich.console import Console

from specdec_course.core.tasks import stub_message
from specdec_course.grading.pytest_plugin import unwritten_label, whole_first_line
from specdec_course.grading.runner import failure_hint, summary_table


def test_a_stub_error_gets_a_short_label_and_other_errors_none():
    err = NotImplementedError(stub_message("sampling.logits_to_probs"))
    assert unwritten_label(err) == "W1D1 `logits_to_probs`"
    assert unwritten_label(NotImplementedError("my own TODO")) is None, "a student's own error"
    assert unwritten_label(ValueError(stub_message("sampling.sample_token"))) is None


def test_first_line_is_never_cut_inside_an_array():
    msg = "expected [1, 2], got [\n 3, 4]\nassert False"
    assert whole_first_line(msg) == "expected [1, 2], got [ 3, 4]"
    assert whole_first_line("one line\nassert x == y") == "one line"


def test_hints_name_the_test_and_where_a_non_assertion_was_raised():
    rec = {
        "exception": "ValueError",
        "message": "no positive mass",
        "test": "test_rejects",
        "where": "src/specdec/sampling.py:57",
        "in_task_code": True,
    }
    hint = failure_hint(rec)
    assert "test_rejects" in hint and "your code" in hint and "sampling.py:57" in hint
    assert "no positive mass" not in hint
    assertion = {
        "exception": "AssertionError",
        "message": "the bonus token is missing",
        "test": "t",
    }
    assert failure_hint(assertion) == "the bonus token is missing"
    no_raise = {"exception": "Failed", "message": "DID NOT RAISE <class 'ValueError'>", "test": "t"}
    assert "expects ValueError" in failure_hint(no_raise)


def test_the_table_fits_80_columns_with_long_messages():
    long = "expected " + "[0.1, 0.2, 0.3] " * 12
    records = [
        {
            "group": "TestSampleFromProbsWithAVeryLongName",
            "outcome": "failed",
            "exception": "AssertionError",
            "message": long,
            "test": "t",
            "nodeid": "a",
        },
        {
            "group": "TestOther",
            "outcome": "failed",
            "exception": "NotImplementedError",
            "message": "x",
            "unwritten": "W1D1 `sample_token`",
            "test": "u",
            "nodeid": "b",
        },
    ]
    console = Console(width=80, record=True)
    console.print(summary_table(records, "W1D1 tests (src)"))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    flat = " ".join(text.split())
    # The first record's message, read back from its wrapped cells in the last column.
    body = [line.split("│") for line in text.splitlines() if line.startswith("│")]
    # A record's first line fills the "ok" column; its wrapped lines leave it empty.
    end = next(i for i in range(1, len(body)) if body[i][3].strip())
    shown = " ".join(" ".join(cells[4] for cells in body[:end]).split())
    assert shown == " ".join(long.split()), (
        f"a long failure message must wrap whole inside the 80 columns, not be cut: got {shown!r}"
    )
    assert "write W1D1 `sample_token`" in flat and "not written yet" in flat


def test_stub_failures_print_one_line_each(pytester):
    pytester.makepyfile(
        test_w1d1_x=(
            "import pytest\npytestmark = pytest.mark.w1d1\n"
            "def f():\n    raise NotImplementedError("
            + repr(stub_message("sampling.sample_token"))
            + ")\n"
            "def test_a():\n    f()\n"
            "def test_b():\n    assert 1 == 2, 'a real failure'\n"
        )
    )
    result = pytester.runpytest_subprocess(
        "-p", "specdec_course.grading.pytest_plugin", "--impl", "src"
    )
    out = result.stdout.str()
    assert "not written yet: W1D1 `sample_token`  (test_a)" in out
    assert "raise NotImplementedError" not in out, "no traceback for a stub"
    assert "a real failure" in out and "def test_b" in out, "real failures keep their detail"
    assert result.ret == 1


def test_stub_failures_print_one_line_per_task(pytester):
    # Untouched stubs fail dozens of tests: one line per task with its test count, not one
    # line per test scrolling the summary away.
    pytester.makepyfile(
        test_w1d1_x=(
            "import pytest\npytestmark = pytest.mark.w1d1\n"
            "def f():\n    raise NotImplementedError("
            + repr(stub_message("sampling.sample_token"))
            + ")\n"
            "@pytest.mark.parametrize('i', range(3))\n"
            "def test_a(i):\n    f()\n"
        )
    )
    result = pytester.runpytest_subprocess(
        "-p", "specdec_course.grading.pytest_plugin", "--impl", "src"
    )
    lines = [ln for ln in result.stdout.lines if ln.startswith("not written yet:")]
    assert lines == ["not written yet: W1D1 `sample_token`  (3 tests)"], lines


def test_a_task_test_that_never_ends_fails_as_no_progress(pytester):
    # Bug caught: a loop that never emits a token (or never stops) hung `specdec test`
    # forever; every task test now has a timeout, and the summary names the likely bug.
    from specdec_course.grading import pytest_plugin
    from specdec_course.grading.runner import failure_hint

    pytester.makepyfile(
        test_w1d1_x=(
            "import pytest\npytestmark = pytest.mark.w1d1\n"
            "def test_loop(request):\n"
            "    marker = request.node.get_closest_marker('timeout')\n"
            f"    assert marker and marker.args == ({pytest_plugin.TASK_TEST_TIMEOUT_S},)\n"
        )
    )
    result = pytester.runpytest_subprocess(
        "-p", "specdec_course.grading.pytest_plugin", "--impl", "src"
    )
    assert result.ret == 0, "a task test must carry the default timeout marker"
    hint = failure_hint(
        {"exception": "Failed", "message": "Timeout (>60.0s) from pytest-timeout.", "test": "t"}
    )
    assert hint.startswith("no progress: `t` ran out of time (Timeout (>60.0s))"), hint
