"""The training corpus (CPython's stdlib sources), held-out prompts and the tokenizer."""

from __future__ import annotations

import sysconfig
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from specdec_course.training.config import EOS_TOKEN

# Corpus
# --------------------------------------------------------------------------

_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def stdlib_files() -> list[Path]:
    """Return the running interpreter's stdlib ``.py`` files, sorted, tests excluded."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS for part in rel.parts[:-1]):
            continue
        if rel.name.startswith("test_"):
            continue
        files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def split_files(files: list[Path], seed: int, heldout_frac: float = 0.05) -> tuple[list[Path], list[Path]]:
    """Deterministically hold out whole files (hash of seed and path, not RNG order)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    train, held = [], []
    for f in files:
        key = f"{seed}:{f.relative_to(root).as_posix()}".encode()
        (held if zlib.crc32(key) % 1000 < heldout_frac * 1000 else train).append(f)
    return train, held


def read_text(path: Path) -> str | None:
    """Read a source file as UTF-8, skipping the few that are not."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    # Tabs and CRLF are rare in the stdlib; normalising keeps the vocab for code.
    return text.replace("\r\n", "\n")


def make_prompts(held: list[Path], rng: np.random.Generator, n: int = 16) -> list[str]:
    """Pick ``n`` short code prefixes (1-6 lines, no trailing newline) from held-out files."""
    prompts: list[str] = []
    order = rng.permutation(len(held))
    for idx in order:
        text = read_text(held[idx])
        if not text:
            continue
        lines = text.split("\n")
        starts = [i for i, ln in enumerate(lines) if ln.lstrip().startswith(("def ", "class "))]
        if not starts:
            continue
        start = starts[int(rng.integers(len(starts)))]
        n_lines = int(rng.integers(1, 7))
        indent = len(lines[start]) - len(lines[start].lstrip())
        chunk = [lines[start]]
        for ln in lines[start + 1 : start + n_lines]:
            # Stop at a dedent: the prefix must stay valid code once dedented.
            if ln.strip() and len(ln) - len(ln.lstrip()) < indent:
                break
            chunk.append(ln)
        # Drop trailing blank lines so the model continues real code.
        while chunk and not chunk[-1].strip():
            chunk.pop()
        prompt = "\n".join(chunk) + "\n"
        if not chunk or len(prompt) > 400:
            continue
        # Dedent to column 0 so prompts look like fresh top-level snippets. No
        # trailing newline: byte-level BPE merges "\n" with the next line's
        # indentation, so a prompt ending in a bare "\n" token is off-distribution.
        prompt = "\n".join(ln[indent:] for ln in chunk)
        prompts.append(prompt)
        if len(prompts) == n:
            break
    return prompts


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------


def train_tokenizer(texts: list[str], vocab: int) -> Any:
    """Train a byte-level BPE; returns a ``transformers.PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        bos_token=None,
        pad_token=EOS_TOKEN,
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
    sample = "class A:\n    def f(self, x):\n\t\treturn x  # tab\n\n\n    x = '\u00e9'\n"
    ids = fast.encode(sample)
    if fast.decode(ids) != sample:
        raise RuntimeError("tokenizer does not round-trip indentation/newlines")
    return fast


def encode_stream(tokenizer: Any, texts: list[str]) -> np.ndarray:
    """Concatenate tokenised files, each followed by EOS, into one int32 array."""
    eos = tokenizer.eos_token_id
    enc = tokenizer.backend_tokenizer.encode_batch(texts)
    parts = []
    for e in enc:
        parts.append(np.asarray(e.ids, dtype=np.int32))
        parts.append(np.asarray([eos], dtype=np.int32))
    return np.concatenate(parts)


# --------------------------------------------------------------------------
