"""The one-task-marker rule is enforced at collection time."""

import pytest

PYPROJECT_MARKERS = """
[pytest]
addopts = -p specdec_course.grading.pytest_plugin --strict-markers
markers =
    w1d1: day one
    w1d2: day two
"""


@pytest.fixture
def project(pytester):
    pytester.makeini(PYPROJECT_MARKERS)
    return pytester


def test_task_test_with_its_marker_is_collected(project):
    project.makepyfile(test_w1d1_ok="import pytest\n@pytest.mark.w1d1\ndef test_a():\n    pass\n")
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_task_test_without_marker_fails_collection(project):
    project.makepyfile(test_w1d1_bad="def test_a():\n    pass\n")
    result = project.runpytest_subprocess()
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*needs exactly one task marker @pytest.mark.w1d1*"])


def test_two_task_markers_fail_collection(project):
    project.makepyfile(
        test_w1d1_two="import pytest\n@pytest.mark.w1d1\n@pytest.mark.w1d2\ndef test_a():\n    pass\n")
    result = project.runpytest_subprocess()
    assert result.ret != 0
    assert "found ['w1d2', 'w1d1']" in result.stderr.str()


def test_marker_of_another_day_fails_collection(project):
    project.makepyfile(test_w1d1_wrong="import pytest\npytestmark = pytest.mark.w1d2\ndef test_a():\n    pass\n")
    result = project.runpytest_subprocess()
    assert result.ret != 0
    assert "needs exactly one task marker @pytest.mark.w1d1, found ['w1d2']" in result.stderr.str()


def test_unregistered_marker_is_refused(project):
    project.makepyfile(test_w1d1_typo="import pytest\n@pytest.mark.w1d9\ndef test_a():\n    pass\n")
    result = project.runpytest_subprocess()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*'w1d9' not found in `markers` configuration option*"])


def test_tool_tests_must_not_carry_task_markers(project):
    project.makepyfile(test_helpers="import pytest\n@pytest.mark.w1d1\ndef test_a():\n    pass\n")
    result = project.runpytest_subprocess()
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*not in a task file but marked*"])
