"""Shared expectations for the Week 1 tests, computed independently of student code."""

from __future__ import annotations

from functools import lru_cache

import mlx.core as mx
from mlx_lm.generate import generate_step

from specdec_course.testing.ties import assert_clear_greedy


def mlx_lm_greedy(model, prompt: list[int], n: int, *, clear_margin: bool = True) -> list[int]:
    """The target-only greedy continuation according to mlx-lm itself.

    With ``clear_margin`` (the default, for the tiny test models) every step must have a
    top-2 gap above the near-tie gap (specdec_course.testing.ties), else NearTieError: a
    greedy-equality test on that seed/prompt could pass or fail by float noise on a GPU.
    """
    out = []
    for token, _ in generate_step(mx.array(prompt), model, max_tokens=n, sampler=lambda x: mx.argmax(x, axis=-1)):
        out.append(int(token))
    if clear_margin:
        assert_clear_greedy(model, prompt, out, what=f"greedy run of {n} tokens after prompt {prompt[:6]}")
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
    return prompt, mlx_lm_greedy(target, prompt, n, clear_margin=False)
