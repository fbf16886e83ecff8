"""``specdec train-models`` options, kept apart from the training code.

Parsing needs neither MLX nor mlx-lm, so the CLI refuses a bad option in a fraction of a second
(importing the training modules costs over a second: mlx-lm brings transformers).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from specdec_course.core.argtypes import OneLineParser, int_at_least, positive_float
from specdec_course.core.paths import PROMPTS_PATH, REPO_ROOT


def build_parser() -> argparse.ArgumentParser:
    """Command-line options for ``specdec train-models``."""
    p = OneLineParser(
        prog="specdec train-models",
        description="Train the bundled draft/target pair on the Python standard library.",
    )
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: <repo>/models, or a temp dir with --quick)")
    p.add_argument("--prompts-out", type=Path, default=None,
                   help=f"held-out prompts JSON (default: {PROMPTS_PATH.relative_to(REPO_ROOT)};"
                        " not written with --quick unless given)")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--quick", action="store_true", help="tiny smoke run (<1 minute)")
    p.add_argument("--target-steps", type=int_at_least(1), default=None)
    p.add_argument("--draft-steps", type=int_at_least(1), default=None)
    p.add_argument("--reuse-target", action="store_true",
                   help="keep the target already in --out and retrain only the draft "
                        "(for iterating on distillation; not bit-identical to a full run)")
    p.add_argument("--minutes", type=positive_float, default=None,
                   help="scale both step counts so the run fits this wall-clock budget "
                        "(estimated from the first steps; makes the run machine-dependent)")
    return p
