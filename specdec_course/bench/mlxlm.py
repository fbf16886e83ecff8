"""mlx-lm's own speculative decoding as a yardstick: its rounds, alpha and the speedup model."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from specdec_course.bench.settings import BASELINE
from specdec_course.bench.sweep import Config


def _mlx_sampler(temperature: float) -> Any:
    if temperature == 0:
        return None
    from mlx_lm.sample_utils import make_sampler

    return make_sampler(temp=temperature)


@dataclass
class _MlxResult:
    # GenerationResult-shaped record of an mlx-lm generation (for Runs.add).
    tokens: list[int]
    target_calls: int
    draft_calls: int
    accepted_per_round: list[int] = field(default_factory=list)
    drafted_per_round: list[int] = field(default_factory=list)


def mlx_lm_configs(draft: Any, target: Any, k: int, temperature: float) -> list[Config]:
    """mlx-lm's ``generate_step`` (its baseline) and ``speculative_generate_step`` at ``k``."""
    from mlx_lm.generate import generate_step, speculative_generate_step

    sampler = _mlx_sampler(temperature)

    def seed(key: Any) -> None:
        if key is not None:  # mlx-lm samples from the global generator
            mx.random.seed(int(mx.random.randint(0, 2**31 - 1, key=key).item()))

    def baseline(prompt: list[int], max_tokens: int, key: Any) -> _MlxResult:
        seed(key)
        toks = [int(t) for t, _ in generate_step(mx.array(prompt, mx.uint32), target, max_tokens=max_tokens,
                                                 sampler=sampler)]
        return _MlxResult(toks, target_calls=len(toks), draft_calls=0)

    def speculative(prompt: list[int], max_tokens: int, key: Any) -> _MlxResult:
        seed(key)
        toks, flags = [], []
        for t, _, from_draft in speculative_generate_step(mx.array(prompt, mx.uint32), target, draft,
                                                          num_draft_tokens=k, max_tokens=max_tokens,
                                                          sampler=sampler):
            toks.append(int(t))
            flags.append(bool(from_draft))
        accepted, drafted = mlx_lm_rounds(flags, k, max_tokens)
        prefill = 1 if len(prompt) > 1 else 0
        return _MlxResult(toks, target_calls=prefill + len(accepted), draft_calls=prefill + sum(drafted),
                          accepted_per_round=accepted, drafted_per_round=drafted)

    return [Config(f"mlx-lm {BASELINE}", None, baseline), Config(f"mlx-lm K={k}", k, speculative)]


def baseline_tokens(model: nn.Module, prompt: mx.array, max_tokens: int) -> list[int]:
    from mlx_lm.generate import generate_step

    return [int(t) for t, _ in generate_step(prompt, model, max_tokens=max_tokens)]


def speculative_tokens(
    draft: nn.Module, target: nn.Module, prompt: mx.array, max_tokens: int, k: int
) -> tuple[list[int], list[bool]]:
    from mlx_lm.generate import speculative_generate_step

    toks, flags = [], []
    for t, _, from_draft in speculative_generate_step(
        prompt, target, draft, num_draft_tokens=k, max_tokens=max_tokens
    ):
        toks.append(int(t))
        flags.append(bool(from_draft))
    return toks, flags


def mlx_lm_rounds(flags: Sequence[bool], k: int, max_tokens: int) -> tuple[list[int], list[int]]:
    """Replay mlx-lm's rounds from its ``from_draft`` flags: (accepted, drafted) per round.

    A round drafts ``min(k, tokens still to produce)`` tokens, yields the
    accepted ones (flag True) and then one target token (flag False) unless
    the budget ran out first.
    """
    accepted, drafted = [], []
    produced = i = 0
    while i < len(flags):
        d = min(k, max_tokens - produced)
        n = 0
        while i < len(flags) and flags[i]:
            n += 1
            i += 1
        produced += n
        if i < len(flags):
            produced += 1
            i += 1
        accepted.append(n)
        drafted.append(d)
    return accepted, drafted


def alpha_mle(accepted: Sequence[int], drafted: Sequence[int]) -> float:
    """Per-token greedy acceptance rate from round counts (maximum likelihood).

    Only tokens the verifier actually examined carry information: every
    accepted token, plus the one rejected token of each round that stopped
    early. ``accepted / drafted`` would also count the never-examined tokens
    after a rejection as failures and fall as K grows, although the draft's
    quality does not change.
    """
    acc = sum(accepted)
    rejections = sum(a < d for a, d in zip(accepted, drafted))
    return acc / (acc + rejections) if acc + rejections else float("nan")


def forward_ms(model: nn.Module, prompt: mx.array, n: int, repeats: int = 15) -> float:
    """Median wall time (ms) of one cached forward over ``n`` new tokens."""
    from mlx_lm.models.cache import make_prompt_cache, trim_prompt_cache

    cache = make_prompt_cache(model)
    mx.eval(model(prompt[None], cache=cache))
    x = mx.array([[int(prompt[-1])] * n])
    times = []
    for _ in range(repeats + 2):
        t0 = time.perf_counter()
        mx.eval(model(x, cache=cache))
        times.append(time.perf_counter() - t0)
        trim_prompt_cache(cache, n)
    return statistics.median(times[2:]) * 1e3


def predicted_speedup(tokens_per_round: float, k: int, c: float, verify_ratio: float) -> float:
    """Speedup from the cost model: tokens per round / cost per round.

    Cost per round is ``K*c + verify_ratio`` in units of one target token.
    """
    return tokens_per_round / (k * c + verify_ratio)


def iid_tokens_per_round(alpha: float, k: int) -> float:
    """Expected tokens per round if every draft token were accepted independently
    with probability ``alpha``: ``(1 - alpha^(K+1)) / (1 - alpha)``."""
    return float(k + 1) if alpha >= 1.0 else (1 - alpha ** (k + 1)) / (1 - alpha)
