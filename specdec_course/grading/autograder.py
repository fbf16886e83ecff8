"""``specdec autograder DEST``: a Gradescope autograder bundle, the scale-out path.

Gradescope runs every submission in a container of its own, as root, so a class of
hundreds is graded in parallel on an existing platform, and ``specdec grade`` there gets
its full walls (namespaces, a user per day; see ``procs.py``). The bundle holds:

* ``setup.sh``: installs uv and OpenBLAS, then the course's locked environment;
* ``run_autograder``: grades ``/autograder/submission`` with the hidden tests and writes
  ``/autograder/results/results.json``;
* ``source/``: the course as the grader needs it: stubs, public and hidden tests, rubric,
  models, the course machinery. Never the reference, the git history or caches.

``results.json`` has one Gradescope test per task (a test class): its score is the task's
share of the day's points, earned when all its tests pass; hidden tasks are ``hidden``
(Gradescope shows neither their names nor their output to the student).
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

from specdec_course.core.paths import REPO_ROOT, new_folder_problem
from specdec_course.grading.report import cap
from specdec_course.grading.rubric import GradeError

#: What ``source/`` holds (relative to the repository root); caches are skipped.
BUNDLE = [
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "src",
    "tests",
    "models",
    "specdec_course",
]
SKIP = ("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "grade-results", "bench-results")

SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once when the autograder image is built.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq libopenblas0-pthread python3-pip >/dev/null
python3 -m pip install --quiet uv
cd /autograder/source && uv sync --locked --no-dev
"""

RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission, in a fresh container, as root.
set -uo pipefail
cd /autograder/source
uv run --no-sync specdec grade /autograder/submission --hidden \\
    --out /autograder/results/specdec --gradescope /autograder/results/results.json
"""


def gradescope_results(result: dict) -> dict:
    """Gradescope's ``results.json`` for one ``grade.json`` result."""
    tests = []
    for day in result["days"]:
        for task in day.get("tasks", []):
            name = f"{day['day']} {task['task'].split('::')[-1]}"
            failures = [
                t
                for t in day["tests"]
                if t["nodeid"].startswith(task["task"]) and t["outcome"] != "passed"
            ]
            output = f"{task['passed']}/{task['total']} tests pass"
            if failures and not task["hidden"]:
                output += "; first failure: " + cap(failures[0].get("message"))
            tests.append(
                {
                    "name": name if not task["hidden"] else f"{day['day']} hidden task",
                    "score": task["points"],
                    "max_score": task["max_points"],
                    "status": "passed" if task["points"] == task["max_points"] else "failed",
                    "output": output,
                    "visibility": "hidden" if task["hidden"] else "visible",
                }
            )
    notes = [cap(n) for n in result.get("submission_notes", [])]
    notes += [f"{d['day']}: {cap(d['note'])}" for d in result["days"] if d.get("note")]
    return {
        "score": result["points"],
        "output": "\n".join(notes) or "graded by specdec grade",
        "visibility": "visible",
        "tests": tests,
    }


def write_bundle(dest: Path) -> Path:
    """Write the autograder bundle to ``dest`` (a new or empty folder outside the repo).

    Raises:
        GradeError: for a ``dest`` inside the repository, a file or a non-empty folder.
    """
    dest = Path(dest).resolve()
    problem = new_folder_problem(dest)
    if problem:
        raise GradeError(problem)
    source = dest / "source"
    source.mkdir()
    for item in BUNDLE:
        path = REPO_ROOT / item
        if path.is_dir():
            shutil.copytree(path, source / item, ignore=shutil.ignore_patterns(*SKIP))
        elif path.exists():
            shutil.copy2(path, source / item)
    for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
        (dest / name).write_text(text)
        (dest / name).chmod(0o755 | stat.S_IXUSR)
    return dest
