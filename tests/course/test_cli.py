"""The specdec command line."""

import os
import subprocess
import sys

import pytest

from specdec_course import __version__
from specdec_course.commands.cli import main
from specdec_course.core.impl import REPO_ROOT


def run_cli(*args):
    # The default implementation must be src whatever the calling shell chose.
    env = {k: v for k, v in os.environ.items() if k != "SPECDEC_IMPL"}
    return subprocess.run([sys.executable, "-m", "specdec_course.commands.cli", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, env=env)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "specdec test --week 1 --day 1" in out and "specdec check" in out


def test_unknown_chapter_is_a_clear_error():
    proc = run_cli("test", "--week", "9", "--day", "9")
    assert proc.returncode == 2
    assert "there is no Week 9 Day 9 chapter" in proc.stderr


def test_half_a_chapter_is_refused():
    proc = run_cli("test", "--week", "1")
    assert proc.returncode == 2 and "both --week and --day" in proc.stderr


def test_reference_passes_and_summary_says_so():
    proc = run_cli("test", "--week", "1", "--day", "1", "--impl", "solutions", "--", "-k", "TestSampleToken")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "TestSampleToken" in proc.stdout and "passing" in proc.stdout


def test_stubs_fail_and_summary_names_the_task():
    proc = run_cli("test", "--week", "1", "--day", "1", "--", "-k", "TestSampleToken")
    assert proc.returncode != 0
    assert "not written yet" in proc.stdout
    assert "sample_token" in proc.stdout


def test_a_handout_lists_the_students_commands_only(monkeypatch):
    # A handout has no reference: check, grade and handout are instructors' commands (their
    # modules are not even shipped), so its `specdec --help` must not offer them.
    from specdec_course.commands import cli

    monkeypatch.setattr(cli, "REFERENCE_IMPL", None)
    text = cli.build_parser().format_help()
    for command in ("check", "grade", "handout"):
        assert f"    {command} " not in text and f"{{{command}," not in text, (
            f"a handout's `specdec --help` offers the instructors' `{command}`:\n{text}"
        )
    assert "    test " in text and "    bench " in text, "the student's commands stay"
