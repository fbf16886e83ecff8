"""Command-line argument types: a bad value becomes one line and exit status 2.

argparse calls a ``type=`` function on every value; when it raises
``argparse.ArgumentTypeError`` argparse prints the message and exits with 2,
before the command runs (so before any model loads or the OpenBLAS re-exec).
:class:`OneLineParser` trims argparse's usage block so the message is the only line.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from specdec_course.core.paths import SMOLLM2_NAMES

# A Hugging Face repo id: owner/name, letters, digits, "-", "_", "." only.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr, exit status 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message> (see <prog> --help)`` and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def int_at_least(low: int, meaning: str = "") -> Callable[[str], int]:
    """An argparse type accepting whole numbers ``>= low``; ``meaning`` explains the value."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < low:
            hint = f" ({meaning})" if meaning else ""
            raise argparse.ArgumentTypeError(f"must be a whole number >= {low}{hint}, got {value}")
        return value

    parse.__name__ = f"int>={low}"  # argparse names the type in some messages
    return parse


def temperature(text: str) -> float:
    """An argparse type for a sampling temperature: a finite number >= 0 (0 = greedy)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a finite number >= 0 (0 = greedy, e.g. 0.7 to sample), got {text!r}"
        )
    return value


def positive_float(text: str) -> float:
    """An argparse type for a finite number > 0 (e.g. a time budget in minutes)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def existing_file(text: str) -> str:
    """An argparse type for a file that must exist locally."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    return str(path)


def looks_local(text: str) -> bool:
    """True when ``text`` reads as a local path rather than a Hugging Face ``owner/name``.

    It starts with ``/``, ``./``, ``../`` or ``~``, is ``.``/``..``, or its first folder
    exists here (``models/x`` names the repository's ``models/`` folder, not a hub owner).
    """
    if text in (".", "..") or text.startswith(("/", "./", "../", "~", ".\\", "..\\")):
        return True
    first = Path(text).parts[0] if Path(text).parts else ""
    return Path(text).exists() or ("/" in text and bool(first) and Path(first).is_dir())


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with mlx-lm
        return False
    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def model_source(text: str) -> str:
    """An argparse type for ``--draft``/``--target``: a local mlx-lm folder or a hub ``owner/name``.

    A value that looks local (see :func:`looks_local`) must be an existing folder holding
    ``config.json``; it never reaches the network. Only ``owner/name`` goes to the hub, and
    with ``HF_HUB_OFFLINE`` set it must already be in the local hub cache. The SmolLM2 names
    (``smollm2``: SmolLM2-135M-Instruct from its installed wheel) pass as they are.
    """
    if text in SMOLLM2_NAMES:
        return text
    if looks_local(text):
        path = Path(text).expanduser()
        if not path.exists():
            raise argparse.ArgumentTypeError(
                f"no such model folder: {text!r} (give an existing mlx-lm folder, "
                "or a Hugging Face name like mlx-community/Qwen2.5-0.5B-Instruct-4bit)"
            )
        if not (path / "config.json").is_file():
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an mlx-lm model folder (it has no config.json)"
            )
        return str(path)  # "~" expanded: mlx_lm.load would take "~/x" for a hub name
    if not _HUB_ID.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an existing local folder nor a Hugging Face name owner/name"
        )
    if _hub_offline() and not _in_hub_cache(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set, so it "
            "cannot be downloaded (unset HF_HUB_OFFLINE or use a local folder)"
        )
    return text


def fail(prog: str, message: str) -> NoReturn:
    """Print ``<prog>: error: <message>`` as one line on stderr and exit with status 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)
