"""Shared expectations for the Week 1 tests, computed independently of student code."""

from __future__ import annotations

from functools import lru_cache

import mlx.core as mx
from mlx_lm.generate import generate_step


def mlx_lm_greedy(model, prompt: list[int], n: int) -> list[int]:
    """The target-only greedy continuation according to mlx-lm itself."""
    out = []
    for token, _ in generate_step(mx.array(prompt), model, max_tokens=n, sampler=lambda x: mx.argmax(x, axis=-1)):
        out.append(int(token))
    return out


BUNDLED_PROMPTS = ["class Parser:\n    def __init__(self", "import os\n\n\ndef main(argv):\n    "]


def bundled_pair():
    """The repository's bundled (draft, target, tokenizer), loaded once per test session."""
    global _BUNDLED
    if _BUNDLED is None:
        from specdec_course.api.models import load_pair

        _BUNDLED = load_pair()
    return _BUNDLED


_BUNDLED = None


@lru_cache(maxsize=None)
def bundled_greedy(text: str, n: int) -> tuple[list[int], list[int]]:
    """(prompt ids, mlx-lm's target-only greedy continuation) on the bundled target, computed once."""
    _, target, tokenizer = bundled_pair()
    prompt = tokenizer.encode(text)
    return prompt, mlx_lm_greedy(target, prompt, n)
