"""specdec grade: full marks on the reference, zero on the stubs, a hung task costs only itself."""

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from specdec_course.commands.cli import main
from specdec_course.core.impl import IMPLEMENTATIONS
from specdec_course.grading.grade import (
    RUBRIC_PATH,
    GradeError,
    grade_submission,
    load_rubric,
    submission_root,
)

REF = IMPLEMENTATIONS["solutions"]
STUBS = IMPLEMENTATIONS["src"]


def test_reference_gets_full_marks_with_hidden_tests(tmp_path, capsys):
    assert main(["grade", str(REF), "--hidden", "--day", "w2d2", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "grade.json").read_text())
    (day,) = result["days"]
    assert result["points"] == result["max_points"] == load_rubric()["w2d2"].points, result
    assert any(t["hidden"] for t in day["tests"]), "the hidden W2D2 tests must have run"
    assert day["failed"] == day["errored"] == 0 and day["first_failure"] == ""
    suites = ET.parse(tmp_path / "junit.xml").getroot()
    assert suites.find("testsuite").get("name") == "w2d2"
    assert "grade: 8 / 8" in capsys.readouterr().out


def test_stubs_get_zero_and_every_task_is_not_written(tmp_path):
    result = grade_submission(STUBS.parent, days=["w1d1"], out=tmp_path)  # the repo: src/specdec
    (day,) = result["days"]
    assert result["points"] == 0 and day["passed"] == 0
    assert day["not_written"] == [
        "W1D1 `logits_to_probs`",
        "W1D1 `sample_from_probs`",
        "W1D1 `sample_token`",
    ]
    assert day["first_failure"].startswith("not written yet")


def test_a_hung_task_or_an_import_crash_costs_only_its_day(tmp_path):
    # One submission, three days: W1D4 loops forever, W2D3's module raises at import,
    # W2D2 is the reference's (the quickest day). Short caps keep the test fast.
    sub = tmp_path / "alice" / "specdec"
    shutil.copytree(REF / "specdec", sub)
    verify = sub / "verify.py"
    loop = "    # BEGIN SOLUTION\n    while True:\n        pass\n"
    verify.write_text(verify.read_text().replace("    # BEGIN SOLUTION\n", loop, 1))
    (sub / "adaptive.py").write_text("raise RuntimeError('half-written module')\n")
    rubric = tmp_path / "rubric.toml"
    text = RUBRIC_PATH.read_text()
    # The short caps must really be in place, or this test runs for minutes.
    for line in ("w1d4 = { points = 15 }", "test_timeout_s = 60"):
        assert line in text, f"rubric.toml no longer has {line!r}: update this test's caps"
    rubric.write_text(
        text.replace("w1d4 = { points = 15 }", "w1d4 = { points = 15, day_cap_s = 3 }").replace(
            "test_timeout_s = 60", "test_timeout_s = 2"
        )
    )
    result = grade_submission(
        sub, days=["w2d2", "w1d4", "w2d3"], out=tmp_path / "out", rubric=rubric
    )
    # Days run side by side (one per core) but are reported in course order.
    order = [d["day"] for d in result["days"]]
    assert order == ["w1d4", "w2d2", "w2d3"], (
        f"days reported as {order}: report them in course order, not in the order they finish"
    )
    days = {d["day"]: d for d in result["days"]}
    hung, crashed, fine = days["w1d4"], days["w2d3"], days["w2d2"]
    assert hung["points"] == 0 and hung["passed"] == 0, hung
    assert "time budget (3 s)" in hung["note"] or "Timeout" in hung["first_failure"], hung["note"]
    assert crashed["points"] == 0 and crashed["errored"] == len(crashed["tests"]) > 0, crashed
    assert fine["points"] == fine["max_points"] > 0, fine["first_failure"]
    assert result["seconds"] < 90, "the caps must bound the grading time"


def test_submission_paths(tmp_path):
    assert submission_root(REF) == REF
    assert submission_root(REF / "specdec") == REF
    assert submission_root(STUBS.parent) == STUBS
    with pytest.raises(GradeError, match="holds no specdec package"):
        submission_root(tmp_path)


def test_bad_submission_is_a_grader_error_exit_2(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "holds no specdec package" in capsys.readouterr().out


def test_a_day_lost_to_another_days_module_says_which(tmp_path):
    sub = tmp_path / "carol" / "specdec"
    shutil.copytree(REF / "specdec", sub)
    (sub / "verify.py").write_text("raise RuntimeError('half-written verify')\n")
    result = grade_submission(
        sub, days=["w1d5"], out=tmp_path / "out", only=["TestGreedyIsLossless"]
    )
    (day,) = result["days"]
    assert day["points"] == 0
    assert "lost to specdec/verify.py (Week 1 Day 4's module)" in day["note"], day["note"]
    assert "half-written verify" in day["note"], "the real error must be shown"
