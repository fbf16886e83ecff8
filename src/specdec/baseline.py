# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 1 Day 2: the autoregressive baseline.

Plain decoding with a KV cache: one target forward pass per generated token.
Every speedup in this course is measured against this function, and the
greedy output of speculative decoding must equal its output token for token.
"""

from __future__ import annotations

from collections.abc import Iterable

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import make_prompt_cache

from specdec.sampling import sample_token
from specdec_course.api.results import GenerationResult
from specdec_course.api.validation import check_count, check_temperature, eos_ids, token_list


def autoregressive_generate(
    model: nn.Module,
    prompt_tokens: mx.array | list[int],
    max_tokens: int,
    *,
    temperature: float = 0.0,
    eos_token_id: int | Iterable[int] | None = None,
    key: mx.array | None = None,
) -> GenerationResult:
    """Generate up to ``max_tokens`` tokens, one target forward pass each.

    The prompt is run once (the prefill) to fill the KV cache and score the
    first new token; every later token costs one forward pass over a single
    token. A generation of n tokens therefore costs exactly n forward passes.

    Args:
        model: an mlx-lm style model: ``model(tokens[None], cache=cache)``
            returns logits of shape ``(1, L, V)``.
        prompt_tokens: the prompt, int ``mx.array`` of shape ``(L,)`` with
            ``L >= 1`` (or a list of ints).
        max_tokens: how many tokens to generate at most (``>= 0``).
        temperature: 0 for greedy decoding, > 0 to sample.
        eos_token_id: stop after emitting this token (or any of these tokens).
        key: MLX PRNG key; split once per sampled token so a run with the same
            key is reproducible. ``None`` uses MLX's global generator.

    Returns:
        A :class:`GenerationResult` with the generated tokens (prompt
        excluded, EOS included when hit), ``target_calls`` and
        ``finish_reason``.

    Raises:
        TypeError: for a non-int ``max_tokens`` or non-integer prompt tokens.
        ValueError: for an empty prompt, a negative ``max_tokens`` or a
            negative / non-finite temperature, before the model runs.
    """
    # TODO(W1D2): plain decoding, one forward pass per token.
    #   1. Validate prompt, max_tokens and temperature (specdec_course validation helpers)
    #      before the model runs; max_tokens == 0 returns an empty GenerationResult.
    #   2. Make one KV cache and prefill the whole prompt in ONE pass (count every pass).
    #   3. Split the key once per token (when given) and pick the token from the last
    #      logits row with sample_token.
    #   4. Stop after max_tokens tokens, or right after an EOS token (kept, reason 'eos').
    #   5. Otherwise feed only the new token; make no pass after the last token.
    raise NotImplementedError(
        "Week 1 Day 2 task `autoregressive_generate` is not written yet: "
        "see book chapter week1-02-baseline"
    )
