"""The grader's static check and reports, without running a submission (fast)."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from specdec_course.core.impl import IMPLEMENTATIONS
from specdec_course.grading.report import print_grade, student_report, write_junit
from specdec_course.grading.static_check import check_package, check_source
from specdec_course.grading.tree import task_modules

REF = IMPLEMENTATIONS["solutions"] / "specdec"


@pytest.mark.parametrize(
    "source, rule",
    [
        ("import os", "imports `os`"),
        ("from subprocess import run", "imports from `subprocess`"),
        ("import importlib", "imports `importlib`"),
        ("from .. import grading", "imports from `..`"),
        ("x = open('/etc/passwd').read()", "`open` may not be used"),
        ("exec('1')", "`exec` may not be used"),
        ("f = eval", "`eval` may not be used"),
        ("g = globals()", "`globals` may not be used"),
        ("t = ().__class__.__base__.__subclasses__()", "`__class__`"),
        ("b = __builtins__", "`__builtins__`"),
        ("import numpy as np\nnp.allclose = None", "may not patch a library"),
        ("import numpy as np\nt = np.testing\nt.assert_allclose = None", "may not patch"),
        ("import numpy as np\nx = np.load('f.npy')", "`.load`"),
        ("import mlx.core as mx\nmx.save('f', mx.ones(1))", "`.save`"),
        ("import numpy as np\ns = np.sys", "`.sys`"),
        ("def f(g):\n    return g.gi_frame.f_back", "`.gi_frame`"),
        ("x = getattr(object, name)", "needs a literal attribute name"),
        ("x = getattr(object, '__subclasses__')", "`__subclasses__`"),
        ("setattr(object, 'x', 1)", "`setattr` may not be used"),
        ("def f(:\n", "SyntaxError"),
    ],
)
def test_each_rule_names_itself(source, rule):
    found = check_source(source, "specdec/sampling.py")
    assert found, f"the static check let {source!r} through"
    assert any(rule in str(v) for v in found), f"{source!r}: {[str(v) for v in found]}"
    assert str(found[0]).startswith("specdec/sampling.py:"), "a violation names file:line"


def test_the_reference_and_the_stubs_pass_the_static_check():
    # A rule that the reference breaks would score the reference 0: the rules must fit it.
    assert check_package(REF, task_modules()) == {}
    assert check_package(IMPLEMENTATIONS["src"] / "specdec", task_modules()) == {}


def _result(message: str, nodeid: str) -> dict:
    test = {
        "nodeid": nodeid,
        "hidden": False,
        "outcome": "failed",
        "exception": "AssertionError",
        "message": message,
        "unwritten": None,
        "duration": 0.25,
    }
    secret = {**test, "nodeid": "tests/hidden/test_w1d1_hidden.py::test_secret", "hidden": True}
    day = {
        "day": "w1d1",
        "title": "t",
        "points": 0.0,
        "max_points": 8.0,
        "passed": 0,
        "failed": 2,
        "errored": 0,
        "first_failure": f"x: AssertionError {message}",
        "first_failure_hidden": False,
        "note": "[red]note[/red]",
        "tests": [test, secret],
    }
    return {
        "points": 0.0,
        "max_points": 8.0,
        "hidden": True,
        "seconds": 1.0,
        "grader": {"rubric_sha256": "ab" * 32},
        "submission_notes": ["[/x] ignored"],
        "days": [day],
    }


def test_markup_in_a_message_is_shown_not_interpreted():
    nodeid = "tests/test_w1d1_sampling.py::TestLogitsToProbs::test_low[bf16]"
    result = _result("[/x] closing tag [bold]", nodeid)
    out = io.StringIO()
    print_grade(Console(file=out, width=200), result)  # `[/x]` crashed the old table
    text = out.getvalue()
    assert "[/x] closing tag [bold]" in text and "[red]note[/red]" in text, text


def test_junit_names_classes_by_module_and_has_times(tmp_path):
    nodeid = "tests/test_w1d1_sampling.py::TestLogitsToProbs::test_low[bf16]"
    write_junit(_result("m", nodeid), tmp_path / "junit.xml")
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    case = suite.find("testcase")
    assert case.get("classname") == "tests.test_w1d1_sampling.TestLogitsToProbs"
    assert case.get("name") == "test_low[bf16]" and case.get("time") == "0.250"
    assert suite.get("skipped") == "0" and suite.get("time") == "0.500"


def test_the_student_report_withholds_hidden_tests():
    report = student_report(_result("m", "tests/test_w1d1_sampling.py::T::t"))
    text = json.dumps(report)
    assert "test_secret" not in text and "tests/hidden" not in text
    assert report["days"][0]["hidden_tests"] == {"passed": 0, "total": 1}


def test_gradescope_results_score_tasks_and_hide_hidden_ones():
    from specdec_course.grading.autograder import gradescope_results

    result = _result("m", "tests/test_w1d1_sampling.py::TestA::t")
    result["days"][0]["tasks"] = [
        {"task": "tests/test_w1d1_sampling.py::TestA", "hidden": False, "points": 0.0,
         "max_points": 5.6, "passed": 0, "total": 1},
        {"task": "tests/hidden/test_w1d1_hidden.py::test_secret", "hidden": True,
         "points": 2.4, "max_points": 2.4, "passed": 1, "total": 1},
    ]
    out = gradescope_results(result)
    visible, hidden = out["tests"]
    assert visible["visibility"] == "visible" and "first failure: m" in visible["output"]
    assert hidden["visibility"] == "hidden" and "secret" not in json.dumps(hidden)
    assert (visible["score"], hidden["score"]) == (0.0, 2.4)


def test_the_autograder_bundle_holds_no_reference(tmp_path):
    from specdec_course.grading.autograder import write_bundle

    dest = write_bundle(tmp_path / "bundle")
    assert os.access(dest / "run_autograder", os.X_OK) and os.access(dest / "setup.sh", os.X_OK)
    assert (dest / "source" / "tests" / "hidden").is_dir(), "the grader needs the hidden tests"
    assert not (dest / "source" / "solutions").exists(), "the bundle must not hold the reference"
    assert not list(dest.rglob("__pycache__"))


def test_cli_edges_are_one_line_errors(tmp_path, capsys):
    from specdec_course.commands.cli import main
    from specdec_course.core.paths import REPO_ROOT

    assert main(["autograder", str(REPO_ROOT / "bundle")]) == 2
    assert main(["handout", str(REPO_ROOT / "handout-here")]) == 2
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert main(["handout", str(a_file)]) == 2
    assert main(["grade", str(REF.parent), "--out", str(a_file), "--day", "w1d1"]) == 2
    out = capsys.readouterr().out
    assert "inside the repository" in out and "inside the instructor repository" in out
    assert "is a file" in out and "Traceback" not in out


def test_specdec_test_warns_of_what_grading_would_refuse(tmp_path, monkeypatch, capsys):
    # A student hears of a static-check violation from `specdec test`, before submitting.
    from specdec_course.commands import cli

    (tmp_path / "specdec").mkdir()
    (tmp_path / "specdec" / "sampling.py").write_text("import os\n")
    monkeypatch.setitem(cli.IMPLEMENTATIONS, "src", tmp_path)
    cli._warn_static("src", ["w1d1"])
    out = capsys.readouterr().out
    assert "grading would refuse specdec/sampling.py:1: imports `os`" in out, out
