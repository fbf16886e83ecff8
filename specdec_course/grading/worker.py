"""One day's test process, started by the grader as ``python -I worker.py CONFIG_FD``.

Run as a script inside the read-only grading tree (see ``tree.py``), never imported by the
grader. The order below is the point: everything trusted happens before the first line of
the submission runs.

1. Read the configuration (the record key among it) from an inherited pipe, and close it.
2. Lower the resource limits.
3. Make ``sys.path`` the tree, the interpreter and its packages: nothing of the
   instructor's checkout (an editable install would put it there).
4. Import the test machinery (pytest, numpy, MLX, the course's test helpers, the plugin)
   and snapshot its namespaces.
5. Install the audit hook, hand the plugin its signed channel and the tamper check.
6. Run pytest on the node ids asked for, in that order; then say ``done`` and exit.
"""

from __future__ import annotations

import json
import os
import sys


def _read_config(fd: int) -> dict:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return json.loads(b"".join(chunks))


def _fix_path(tree: str, hide: list[str]) -> None:
    # -I already left out the script's folder, PYTHONPATH and the user site; an editable
    # install of the course still adds the instructor's checkout through a .pth file.
    def hidden(entry: str) -> bool:
        real = os.path.realpath(entry or ".")
        return any(real == h or real.startswith(h + os.sep) for h in hide) and not real.startswith(
            sys.prefix
        )

    sys.path[:] = [tree] + [p for p in sys.path if p and not hidden(p)]


#: What the day's tests may reach, by a word their source holds: imported (and snapshotted)
#: before the submission only when some test file of the day names it. Every test needs the
#: core set; the rest costs a second or two per day (scipy.stats, mlx-lm).
HEAVY = {
    "mlx_lm": ["mlx_lm.models.cache", "mlx_lm.generate"],
    "_helpers": ["tests.w1_helpers", "tests.w3_helpers"],
    "specdec_course.testing import": ["specdec_course.testing." + m for m in ("tiny", "toy")],
    "wrappers": ["specdec_course.testing.wrappers"],
    "assert_follows": ["scipy.special"],
    "chi_square": ["scipy.special"],
    "binomial_bound": ["scipy.stats"],
}
CORE = [
    "math",
    "numpy",
    "numpy.testing",
    "pytest",
    "_pytest.runner",
    "_pytest.reports",
    "mlx.core",
    "mlx.nn",
    "specdec_course.grading.pytest_plugin",
    "specdec_course.testing",
    "specdec_course.testing.stats",
    "specdec_course.testing.ties",
    "specdec_course.testing.baselines",
    "tests",
]


def _preimport(tree: str) -> list:
    import builtins
    import importlib
    from pathlib import Path

    # The day's test files (helpers are imported, and so snapshotted, when they name them).
    sources = " ".join(p.read_text() for p in Path(tree, "tests").rglob("test_*.py"))
    names = CORE + [m for word, mods in HEAVY.items() if word in sources for m in mods]
    modules = [json, builtins]
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            pass  # a helper this course version does not have
    return modules


def main() -> int:
    """Run the configured tests; the verdicts go over the channel, never to a file."""
    config = _read_config(int(sys.argv[1]))
    tree = config["tree"]
    _fix_path(tree, config["hide"])
    from specdec_course.grading import sandbox  # the tree's copy, now first on the path

    sandbox.set_limits(**config["limits"])
    modules = _preimport(tree)
    import _pytest.runner
    import pytest

    import specdec_course.grading.pytest_plugin as plugin
    from specdec_course.grading.channel import Sender

    sender = Sender(config["fd"], bytes.fromhex(config["key"]))
    config["key"] = ""
    import _pytest.reports

    from specdec_course.grading import channel

    modules.append(channel)
    classes = [_pytest.runner.CallInfo, pytest.TestReport, _pytest.reports.BaseReport, Sender]
    # The plugin keeps the session's config in a global of its own (set by pytest_configure).
    snapshot = sandbox.Snapshot(modules, classes, ignore=(f"{plugin.__name__}._CONFIG",))
    sandbox.install_audit_hook(
        student_dir=os.path.join(tree, "src", "specdec"),
        scratch=config["scratch"],
        readable=[sys.prefix, sys.base_prefix, *config["readable"]],
        own_pid=os.getpid(),
    )

    own = os.path.join(tree, "src", "specdec") + os.sep

    def tampered() -> list[str]:
        # Every specdec module must come from the tree's package (not, say, a folder the
        # submission added to specdec.__path__), and the machinery must be as it was.
        strays = [
            name
            for name, module in list(sys.modules.items())
            if (name == "specdec" or name.startswith("specdec."))
            and not str(getattr(module, "__file__", "") or "").startswith(own)
        ]
        return [f"{name} (imported from outside the submission)" for name in strays] + (
            snapshot.changes()
        )

    plugin.use_channel(sender, tampered, config["timeouts"], config["strict_timeouts"])
    snapshot.retake(plugin)
    os.chdir(tree)
    # Verdicts travel over the channel: pytest's terminal goes nowhere (a flood there would
    # only fill the grader's log; what went wrong before this point is in that log).
    args = ["-q", "-p", "no:cacheprovider", "--no-header", "-p", "no:randomly", "--impl", "src"]
    args += ["--tb=short", "--show-capture=no", "-rN", "-p", "no:warnings"]
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    args += [f"--timeout={config['test_timeout_s']:g}", f"--basetemp={config['scratch']}/pytest"]
    code = pytest.main([*args, *config["ids"]])
    sender.send("done", exit=int(code))
    sys.stdout.flush()
    os._exit(0)  # no atexit handler of the submission's runs after the verdicts


if __name__ == "__main__":
    raise SystemExit(main())
