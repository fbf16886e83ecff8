"""`specdec demo` and `specdec walkthrough` on the bundled pair."""

import os
import subprocess
import sys

from specdec_course.core.impl import REPO_ROOT


def run_cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "SPECDEC_IMPL"}
    env["COLUMNS"] = "160"
    # No OpenBLAS re-exec: these runs check behaviour, not speed, and a second process
    # costs seconds per test (the re-exec itself is tested in test_blas.py).
    env["SPECDEC_NO_OPENBLAS"] = "1"
    return subprocess.run([sys.executable, "-m", "specdec_course.commands.cli", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, env=env)


def test_walkthrough_on_the_reference():
    # Defaults only: the default prompt must show what a step can do (bug caught: a default
    # prompt whose first draft token is rejected shows neither an acceptance nor a correction).
    proc = run_cli("walkthrough", "--impl", "solutions")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "one speculative step, K = 4" in proc.stdout
    assert "MLX cpu" in proc.stdout or "MLX gpu" in proc.stdout, "the header names no MLX device"
    assert "1 target call" in proc.stdout
    assert "accepted" in proc.stdout, "the default walkthrough shows no accepted draft token"
    assert "rejected" in proc.stdout, "the default walkthrough shows no rejection"
    assert "(0 accepted" not in proc.stdout


def test_demo_on_the_reference_is_lossless():
    proc = run_cli("demo", "--impl", "solutions", "--max-tokens", "12")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identical output: yes" in proc.stdout
    assert "BLAS:" in proc.stdout
    # accepted / drafted is not α (biased low, falls with K): the column says what it is.
    assert "acc/drafted: accepted / drafted" in proc.stdout, "the demo labels accepted/drafted as α"


def test_unwritten_tasks_get_a_message_not_a_traceback():
    for command in ("demo", "walkthrough"):
        proc = run_cli(command, "--max-tokens", "8") if command == "demo" else run_cli(command)
        assert proc.returncode == 1
        assert "is not written yet" in proc.stdout and "--impl solutions" in proc.stdout
        assert "Traceback" not in proc.stdout + proc.stderr
        # Bug caught: the OpenBLAS re-exec (a second process start) before the stub is found.
        assert "re-running with OpenBLAS" not in proc.stderr, f"{command} re-exec'd before the stub"
