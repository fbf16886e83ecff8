"""`specdec demo` and `specdec walkthrough` on the bundled pair."""

import os
import subprocess
import sys

from specdec_course.core.impl import REPO_ROOT


def run_cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "SPECDEC_IMPL"}
    env["COLUMNS"] = "160"
    return subprocess.run([sys.executable, "-m", "specdec_course.commands.cli", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, env=env)


def test_walkthrough_on_the_reference():
    proc = run_cli("walkthrough", "--impl", "solutions", "--k", "4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "one speculative step, K = 4" in proc.stdout
    assert "1 target call" in proc.stdout


def test_demo_on_the_reference_is_lossless():
    proc = run_cli("demo", "--impl", "solutions", "--max-tokens", "24")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identical output: yes" in proc.stdout
    assert "BLAS:" in proc.stdout


def test_unwritten_tasks_get_a_message_not_a_traceback():
    for command in ("demo", "walkthrough"):
        proc = run_cli(command, "--max-tokens", "8") if command == "demo" else run_cli(command)
        assert proc.returncode == 1
        assert "is not written yet" in proc.stdout and "--impl solutions" in proc.stdout
        assert "Traceback" not in proc.stdout + proc.stderr
