"""Hostile submissions against ``specdec grade``: each earns nothing it did not earn honestly.

Every attack is what a student holding a stubs-only handout could write into
``specdec/sampling.py`` (Week 1 Day 1). Each run grades one task's tests only (``only``), so
the suite stays fast, and afterwards checks that the grader's own files are unchanged and
that no process of the run is left. Attacks that the static check refuses are also run with
the static check off (``static_check=False``): the layers under it must hold on their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from specdec_course.core.impl import IMPLEMENTATIONS
from specdec_course.core.paths import REPO_ROOT
from specdec_course.grading import procs
from specdec_course.grading.grade import RUBRIC_PATH, grade_submission

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the grader's walls are tested on Linux"
)
STUBS = IMPLEMENTATIONS["src"] / "specdec"
REF = IMPLEMENTATIONS["solutions"] / "specdec"
ONE_TASK = ["TestLogitsToProbs"]
HIDDEN_W1D1 = REPO_ROOT / "tests" / "hidden" / "test_w1d1_hidden.py"


def _fingerprint() -> str:
    """What an attack on the grader would change: rubric, hidden tests, the tests folder's
    files, the reference's sampling module (the course's own edits are not attacks)."""
    digest = hashlib.sha256()
    for path in [RUBRIC_PATH, REF / "sampling.py", *sorted(HIDDEN_W1D1.parent.glob("*.py"))]:
        digest.update(str(path).encode() + path.read_bytes())
    digest.update(repr(sorted(p.name for p in (REPO_ROOT / "tests").iterdir())).encode())
    return digest.hexdigest()


def _leftovers(tag: str) -> list[str]:
    """Processes of a grading run (``tag`` in their command line or folder) still alive."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if "State:\tZ" not in status and (tag in cmdline or tag in cwd):
            found.append(pid)
    return found


def _submission(tmp_path: Path, sampling: str, extra: dict[str, str] | None = None) -> Path:
    sub = tmp_path / "alice" / "specdec"
    shutil.copytree(STUBS, sub)
    # The stub's module with the attack after it (its definitions win): the tests can import.
    (sub / "sampling.py").write_text(
        (STUBS / "sampling.py").read_text() + textwrap.dedent(sampling)
    )
    for name, text in (extra or {}).items():
        path = tmp_path / "alice" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sub.parent


def _grade(tmp_path: Path, sampling: str, *, extra=None, **kw) -> dict:
    before = _fingerprint()
    sub = _submission(tmp_path, sampling, extra)
    kw.setdefault("only", ONE_TASK)
    if "rubric" not in kw:
        # A roomy import cap: a loaded machine (other tests side by side) must not turn an
        # attack's verdict into "importing took too long".
        kw["rubric"] = tmp_path / "rubric.toml"
        kw["rubric"].write_text(
            RUBRIC_PATH.read_text().replace("collect_cap_s = 30", "collect_cap_s = 120")
        )
    tag = f"attack{os.getpid()}x{time.monotonic_ns()}-"
    result = grade_submission(sub, days=["w1d1"], out=tmp_path / "out", tag=tag, **kw)
    assert _fingerprint() == before, "the submission changed the grader's own files"
    deadline = time.monotonic() + 5
    while _leftovers(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _leftovers(tag), "a process of the graded submission outlived its day"
    return result


def _day(result: dict) -> dict:
    (day,) = result["days"]
    return day


def _honest_stub_score(result: dict) -> None:
    assert result["points"] == 0, f"the attack earned {result['points']} points"


# ---- the reference itself ------------------------------------------------------------


def test_reading_or_importing_the_reference_earns_nothing(tmp_path):
    attack = f"""
        import specdec
        specdec.__path__.insert(0, {str(REF)!r})   # the 156/156 attack of the old grader

        def logits_to_probs(logits, temperature=1.0):
            ns = {{}}
            exec(open({str(REF / "sampling.py")!r}).read(), ns)
            return ns["logits_to_probs"](logits, temperature)
    """
    refused = _grade(tmp_path / "a", attack)
    _honest_stub_score(refused)
    assert "static check" in _day(refused)["note"], "the static check must name the rule"
    walls = _grade(tmp_path / "b", attack, static_check=False)
    _honest_stub_score(walls)
    messages = " ".join(t["message"] for t in _day(walls)["tests"])
    assert "task code may not read" in messages, messages


def test_a_module_linked_to_the_reference_is_ignored(tmp_path):
    sub = _submission(tmp_path, "")
    (sub / "specdec" / "sampling.py").unlink()
    (sub / "specdec" / "sampling.py").symlink_to(REF / "sampling.py")
    result = grade_submission(sub, days=["w1d1"], out=tmp_path / "out", only=ONE_TASK)
    _honest_stub_score(result)
    assert any("a link" in n for n in result["submission_notes"]), result["submission_notes"]


# ---- forging verdicts ------------------------------------------------------------------


def test_registering_a_pytest_hook_from_student_code_earns_nothing(tmp_path):
    attack = """
        import gc
        import pytest

        class _Pass:
            @pytest.hookimpl(tryfirst=True)
            def pytest_runtest_makereport(self, item, call):
                return pytest.TestReport(item.nodeid, item.location, {}, "passed", None,
                                         call.when, [])

        config = next(o for o in gc.get_objects() if type(o).__name__ == "Config")
        config.pluginmanager.register(_Pass(), "totally-honest")

        def logits_to_probs(logits, temperature=1.0):
            raise ValueError("not done")
    """
    result = _grade(tmp_path, attack, static_check=False)
    _honest_stub_score(result)
    assert "Tampering" in _day(result)["first_failure"], _day(result)["first_failure"]


def test_patching_pytest_internals_earns_nothing(tmp_path):
    attack = """
        import _pytest.runner as runner

        original = runner.CallInfo.from_call.__func__
        runner.CallInfo.from_call = classmethod(
            lambda cls, func, when, reraise=None: original(cls, lambda: None, when, reraise)
        )
    """
    result = _grade(tmp_path, attack, static_check=False)
    _honest_stub_score(result)
    # Collection itself goes through from_call: the run breaks before any verdict, or the
    # tamper check names the patched class.
    first = _day(result)["first_failure"]
    assert "CallInfo" in first or "did not report" in first or "no test ran" in first, first


def test_patching_the_reporter_the_channel_or_the_test_helpers_earns_nothing(tmp_path):
    attack = """
        import numpy as np
        import specdec_course.grading.channel as channel
        import specdec_course.testing.stats as stats

        np.allclose = lambda *a, **k: True                 # every closeness check passes
        stats.assert_follows = lambda *a, **k: None        # every statistical law holds
        original = channel.Sender.send

        def send(self, kind, **fields):
            if kind == "result":
                fields["outcome"] = "passed"
            return original(self, kind, **fields)

        channel.Sender.send = send

        def logits_to_probs(logits, temperature=1.0):
            return logits
    """
    result = _grade(tmp_path, attack, static_check=False)
    _honest_stub_score(result)
    exceptions = {t["exception"] for t in _day(result)["tests"]}
    assert exceptions <= {"Tampering", "Anomaly"}, exceptions


def test_forged_records_on_any_descriptor_cost_the_day(tmp_path):
    attack = """
        import json
        import os

        def logits_to_probs(logits, temperature=1.0):
            body = json.dumps({"kind": "result", "outcome": "passed"})
            line = json.dumps({"seq": 3, "body": body, "sig": "0" * 64}) + "\\n"
            for fd in range(3, 64):
                try:
                    os.write(fd, line.encode())
                except OSError:
                    pass
            os._exit(0)
    """
    result = _grade(tmp_path, attack, static_check=False)
    _honest_stub_score(result)
    assert "anomaly" in _day(result)["note"], _day(result)["note"]


def test_exiting_in_every_test_costs_only_those_tests(tmp_path):
    attack = """
        import os

        def logits_to_probs(logits, temperature=1.0):
            os._exit(0)
    """
    result = _grade(tmp_path, attack, static_check=False, only=["test_temperature_"])
    _honest_stub_score(result)
    day = _day(result)
    assert day["errored"] == len(day["tests"]) >= 2 and "ended early" in day["note"], day


# ---- reading what is hidden, writing where it must not ---------------------------------


def test_hidden_tests_cannot_be_read_into_a_message(tmp_path):
    secret = "test_default_key_samples_from_the_global_generator"
    assert secret in HIDDEN_W1D1.read_text(), "pick another line of the hidden W1D1 tests"
    attack = f"""
        from pathlib import Path

        def logits_to_probs(logits, temperature=1.0):
            found = []
            for path in (Path(__file__).parents[2] / "tests" / "hidden" / "{HIDDEN_W1D1.name}",
                         Path({str(HIDDEN_W1D1)!r})):
                try:
                    found.append(path.read_text())
                except OSError as err:
                    found.append(str(err))
            raise ValueError(" ".join(found))
    """
    result = _grade(tmp_path, attack, static_check=False, hidden=True)
    _honest_stub_score(result)
    for name in ("grade.json", "student.json", "junit.xml"):
        assert secret not in (tmp_path / "out" / name).read_text(), f"{name} quotes hidden tests"


def test_writing_into_the_grader_or_its_output_changes_nothing(tmp_path):
    out = tmp_path / "out"
    targets = [REPO_ROOT / "tests" / "conftest.py", RUBRIC_PATH, out / "grade.json"]
    attack = f"""
        for target in {[str(t) for t in targets]!r}:
            try:
                with open(target, "w") as f:
                    f.write("w1d1 = {{ points = 80 }}\\n")
            except OSError:
                pass
    """
    result = _grade(tmp_path, attack, static_check=False)
    _honest_stub_score(result)
    assert not (REPO_ROOT / "tests" / "conftest.py").exists()
    assert json.loads((out / "grade.json").read_text())["points"] == 0


def test_a_detached_process_is_refused(tmp_path):
    attack = """
        import subprocess

        def logits_to_probs(logits, temperature=1.0):
            subprocess.Popen(["sleep", "30"], start_new_session=True)
            return logits
    """
    result = _grade(tmp_path, attack, static_check=False)
    _honest_stub_score(result)
    assert "refuses `subprocess.Popen`" in _day(result)["first_failure"], _day(result)


def test_every_process_of_a_day_is_killed_however_it_detached(tmp_path):
    # The layer under the audit hook: a process that got out (setsid, its own session) dies
    # with its day, found by the day's uid (root) or the day's token (elsewhere).
    containment = procs.Containment()
    env = {**os.environ, procs.TOKEN_VAR: containment.token}
    child = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    try:
        assert procs.kill_all(containment, None) == 1
        assert child.wait(timeout=5) < 0, "the detached process survived its day"
    finally:
        child.kill()


# ---- resources --------------------------------------------------------------------------


def test_memory_output_and_message_floods_are_bounded(tmp_path):
    attack = """
        import numpy as np

        def logits_to_probs(logits, temperature=1.0):
            if temperature == 1.0:
                np.empty(10 * 2**30, dtype=np.uint8)     # over the worker's memory limit
            print("x" * 5_000_000)
            raise ValueError("[/x] [bold]" + "y" * 5_000_000)
    """
    result = _grade(tmp_path, attack, static_check=False)
    _honest_stub_score(result)
    tests = _day(result)["tests"]
    assert any(t["exception"] == "MemoryError" for t in tests), "no memory limit held"
    assert (tmp_path / "out" / "grade.json").stat().st_size < 100_000
    assert all(len(t["message"]) <= 300 for t in tests)


def test_an_import_time_loop_is_stopped_at_the_collection_cap(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(RUBRIC_PATH.read_text().replace("collect_cap_s = 30", "collect_cap_s = 3"))
    start = time.monotonic()
    result = _grade(tmp_path, "\nwhile True:\n    pass\n", rubric=rubric)
    _honest_stub_score(result)
    assert time.monotonic() - start < 60
    assert "over 3 s" in _day(result)["note"], _day(result)["note"]


def test_a_looping_task_costs_its_timeouts_only(tmp_path):
    rubric = tmp_path / "rubric.toml"
    text = RUBRIC_PATH.read_text().replace("test_timeout_s = 60", "test_timeout_s = 2")
    rubric.write_text(text.replace("collect_cap_s = 30", "collect_cap_s = 120"))
    attack = """
        def logits_to_probs(logits, temperature=1.0):
            while True:
                pass
    """
    start = time.monotonic()
    result = _grade(tmp_path, attack, rubric=rubric, only=["test_temperature_"])
    _honest_stub_score(result)
    assert time.monotonic() - start < 60
    first, *rest = _day(result)["tests"]
    assert "Timeout" in first["message"], first
    # The rest of a task whose test ran out of time is not run: the task earns nothing anyway.
    assert rest and all("ran out of time" in t["message"] for t in rest), rest


# ---- what the submission holds besides its task modules ---------------------------------


def test_files_beside_the_task_modules_are_ignored(tmp_path):
    fake = "def chisquare(*a, **k):\n    return 0.0, 1.0\n"
    extra = {
        "specdec/conftest.py": "import pytest\n",
        "specdec/scipy/__init__.py": fake,
        "src/scipy/stats.py": fake,
        "pytest.ini": "[pytest]\naddopts = -p no:specdec\n",
        "tests/conftest.py": "raise SystemExit(0)\n",
    }
    result = _grade(tmp_path, "", extra=extra)
    _honest_stub_score(result)
    (note,) = result["submission_notes"]
    assert "specdec/conftest.py" in note and "specdec/scipy/__init__.py" in note, note


# ---- honest work ------------------------------------------------------------------------


def test_an_honest_partial_submission_gets_exactly_its_score(tmp_path):
    # logits_to_probs written (the reference's), sample_from_probs not: one task of two.
    sub = _submission(tmp_path, "")
    text = (REF / "sampling.py").read_text()
    stub = (STUBS / "sampling.py").read_text()
    start = stub.index("def sample_from_probs")
    end = stub.index("def sample_token")
    begin = text.index("def sample_from_probs")
    finish = text.index("def sample_token")
    (sub / "specdec" / "sampling.py").write_text(text[:begin] + stub[start:end] + text[finish:])
    only = ["TestLogitsToProbs", "TestSampleFromProbs"]
    result = grade_submission(sub, days=["w1d1"], out=tmp_path / "out", only=only)
    assert result["points"] == result["max_points"] / 2, _day(result)
