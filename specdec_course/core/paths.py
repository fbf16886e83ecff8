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


def load_prompts(path: Path = PROMPTS_PATH) -> list[str]:
    """The held-out prompt texts stored as a JSON list of strings."""
    return json.loads(Path(path).read_text())
