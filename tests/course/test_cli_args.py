"""Every bad command-line argument: one line on stderr, exit status 2, no traceback.

The bug each case catches: a value that used to reach the code (a 20-line traceback ending in a
ValueError, a Hugging Face ``HFValidationError`` for a missing folder, a network ``ConnectError``
for ``models/nonexistent``), or an error printed only after the OpenBLAS re-exec line.
"""

import os
import subprocess
import sys

import pytest

from specdec_course.commands.cli import main
from specdec_course.core.impl import REPO_ROOT

# (arguments, a phrase the message must contain: what is wrong or what is accepted)
BAD_ARGUMENTS = [
    (["demo", "--k", "-1"], "must be a whole number >= 0"),
    (["demo", "--k", "two"], "expected a whole number"),
    (["demo", "--temperature", "-1"], "finite number >= 0"),
    (["demo", "--temperature", "nan"], "finite number >= 0"),
    (["demo", "--temperature", "inf"], "finite number >= 0"),
    (["demo", "--temperature=-inf"], "finite number >= 0"),
    (["demo", "--max-tokens", "-1"], "must be a whole number >= 1"),
    (["demo", "--max-tokens", "0"], "must be a whole number >= 1"),
    (["demo", "--seed", "-3"], "must be a whole number >= 0"),
    (["demo", "--draft", "/nonexistent"], "no such model folder"),
    (["demo", "--draft", "models/nonexistent"], "no such model folder"),
    (["demo", "--target", "./nope"], "no such model folder"),
    (["demo", "--target", "../nope"], "no such model folder"),
    (["demo", "--target", "~/surely-not-a-model-folder"], "no such model folder"),
    (["demo", "--draft", "models"], "no config.json"),
    (["demo", "--draft", "not a model"], "neither an existing local folder nor"),
    (["demo", "--impl", "bogus"], "invalid choice"),
    (["walkthrough", "--k", "-1"], "must be a whole number >= 1"),
    (["walkthrough", "--k", "0"], "must be a whole number >= 1"),
    (["walkthrough", "--draft", "/nonexistent"], "no such model folder"),
    (["walkthrough", "--target", "models/nonexistent"], "no such model folder"),
    (["bench", "--k", "2", "-1"], "must be a whole number >= 0"),
    (["bench", "--temperature", "nan"], "finite number >= 0"),
    (["bench", "--max-tokens", "0"], "must be a whole number >= 1"),
    (["bench", "--repeats", "0"], "must be a whole number >= 1"),
    (["bench", "--num-prompts", "0"], "must be a whole number >= 1"),
    (["bench", "--prompts", "no-such-prompts.json"], "no such file"),
    (["bench", "--draft", "models/nonexistent"], "no such model folder"),
    (["test", "--week", "0", "--day", "1"], "must be a whole number >= 1"),
    (["test", "--week", "9", "--day", "9"], "there is no Week 9 Day 9 chapter"),
    (["test", "--week", "1"], "give both --week and --day"),
    (["train-models", "--minutes", "-1"], "finite number > 0"),
    (["train-models", "--minutes", "nan"], "finite number > 0"),
    (["train-models", "--target-steps", "0"], "must be a whole number >= 1"),
    (["train-models", "--draft-steps", "x"], "expected a whole number"),
    (["train-models", "--seed", "-1"], "must be a whole number >= 0"),
]


def _one_error_line(err: str, command: str, phrase: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"a bad argument must print exactly one line, got:\n{err}"
    assert lines[0].startswith(f"specdec {command}: error:"), (
        f"the line must name the command: {lines[0]}"
    )
    assert phrase in lines[0], (
        f"the line must say what is wrong or accepted ({phrase!r}): {lines[0]}"
    )
    return lines[0]


@pytest.mark.parametrize("argv,phrase", BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_bad_argument_is_one_line_and_exit_2(argv, phrase, capsys, monkeypatch):
    # Nothing may load a model or re-exec for OpenBLAS before the arguments are checked.
    import mlx_lm

    import specdec_course.core.blas as blas

    def forbidden(*args, **kwargs):
        raise AssertionError("a model load or the OpenBLAS re-exec ran before argument checking")

    monkeypatch.setattr(mlx_lm, "load", forbidden)
    monkeypatch.setattr(blas, "ensure_fast_blas", forbidden)
    monkeypatch.setenv("HOME", str(REPO_ROOT / "no-such-home"))
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    assert code == 2, f"a bad argument must exit with status 2, got {code}"
    out, err = capsys.readouterr()
    assert out == "", f"the error belongs on stderr, stdout had: {out}"
    _one_error_line(err, argv[0], phrase)


def _run(*args, **env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("SPECDEC_IMPL", "SPECDEC_NO_OPENBLAS")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "specdec_course.commands.cli", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "argv,phrase",
    [
        (["demo", "--impl", "solutions", "--k", "-1"], "must be a whole number >= 0"),
        (["demo", "--impl", "solutions", "--temperature", "-1"], "finite number >= 0"),
        (["walkthrough", "--impl", "solutions", "--k", "-1"], "must be a whole number >= 1"),
        (["demo", "--draft", "/nonexistent"], "no such model folder: '/nonexistent'"),
        (["demo", "--draft", "models/nonexistent"], "no such model folder: 'models/nonexistent'"),
        (["bench", "--k", "-2"], "must be a whole number >= 0"),
        (["train-models", "--minutes", "-1"], "finite number > 0"),
    ],
)
def test_the_reported_cases_end_to_end(argv, phrase):
    # The paths of issue 11 as a student types them: a real process, stderr as a terminal shows it.
    proc = _run(*argv)
    assert proc.returncode == 2, f"exit status {proc.returncode}, stderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, (
        f"a traceback reached the student:\n{proc.stderr}"
    )
    assert "re-running with OpenBLAS" not in proc.stderr, (
        "the OpenBLAS re-exec ran before validation"
    )
    _one_error_line(proc.stderr, argv[0], phrase)


def test_hub_name_while_offline_is_one_line():
    # owner/name goes to the hub only; HF_HUB_OFFLINE and an empty cache: nothing to get.
    proc = _run(
        "demo",
        "--draft",
        "mlx-community/no-such-model-here",
        HF_HUB_OFFLINE="1",
        HF_HOME=str(REPO_ROOT / "no-such-hf-home"),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    line = _one_error_line(proc.stderr, "demo", "HF_HUB_OFFLINE is set")
    assert "not in the local Hugging Face cache" in line


def test_a_network_failure_while_loading_is_one_line(monkeypatch, capsys):
    # No network (ConnectError inside huggingface_hub): one line that says so, never a stack trace.
    import mlx_lm

    class ConnectError(Exception):
        pass

    def no_network(path):
        raise ConnectError("[Errno -3] Temporary failure in name resolution\nmore detail")

    monkeypatch.setattr(mlx_lm, "load", no_network)
    monkeypatch.setattr("specdec_course.core.blas.ensure_fast_blas", lambda *a, **k: None)
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--impl", "solutions", "--draft", "mlx-community/some-model"])
    assert exit_info.value.code == 2
    line = _one_error_line(capsys.readouterr().err, "demo", "no network")
    assert "mlx-community/some-model" in line


def test_good_arguments_still_parse():
    # The validators must not refuse what is allowed: K = 0, T = 0.7, a bundled folder, a hub name.
    from specdec_course.commands.cli import build_parser

    args = build_parser().parse_args(
        [
            "demo",
            "--k",
            "0",
            "--temperature",
            "0.7",
            "--max-tokens",
            "1",
            "--draft",
            "models/specdec-draft",
            "--target",
            "mlx-community/Qwen2.5-7B-Instruct-4bit",
        ]
    )
    assert (args.k, args.temperature, args.max_tokens) == (0, 0.7, 1)
    assert args.draft == "models/specdec-draft"
