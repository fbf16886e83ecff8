"""Timed generations: the interleaved sweep of every configuration and the greedy identity check."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx

from specdec_course.bench.adaptive_sim import make_speculator
from specdec_course.bench.settings import ADAPTIVE, ADAPTIVE_INITIAL_K, BASELINE, Impl
from specdec_course.testing.ties import NEAR_TIE_GAP, top2


@dataclass
class Runs:
    """Everything recorded for one configuration over all prompts and repeats."""

    label: str
    k: int | None
    tokens: int = 0
    seconds: float = 0.0
    target_calls: int = 0
    draft_calls: int = 0
    generations: int = 0
    accepted_per_round: list[int] = field(default_factory=list)
    drafted_per_round: list[int] = field(default_factory=list)
    repeat_tokens: list[int] = field(default_factory=list)
    repeat_seconds: list[float] = field(default_factory=list)
    outputs: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    def add(self, repeat: int, prompt_index: int, result: Any, seconds: float) -> None:
        """Record one generation (a ``GenerationResult`` or compatible)."""
        while len(self.repeat_tokens) <= repeat:
            self.repeat_tokens.append(0)
            self.repeat_seconds.append(0.0)
        n = len(result.tokens)
        self.tokens += n
        self.seconds += seconds
        self.repeat_tokens[repeat] += n
        self.repeat_seconds[repeat] += seconds
        self.target_calls += result.target_calls
        self.draft_calls += result.draft_calls
        self.generations += 1
        self.accepted_per_round += list(result.accepted_per_round)
        self.drafted_per_round += list(result.drafted_per_round)
        self.outputs[(repeat, prompt_index)] = list(result.tokens)

    @property
    def tokens_per_s(self) -> float:
        """Tokens over seconds, all generations together."""
        return self.tokens / self.seconds if self.seconds > 0 else math.nan

    @property
    def repeat_tokens_per_s(self) -> list[float]:
        """Tokens per second of each repeat (the spread shows the noise)."""
        return [t / s for t, s in zip(self.repeat_tokens, self.repeat_seconds) if s > 0]


@dataclass
class Config:
    """A named way of generating: ``run(prompt, max_tokens, key) -> GenerationResult``."""

    label: str
    k: int | None
    run: Callable[[list[int], int, Any], Any]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Call ``fn`` and return ``(result, seconds)``, synchronised.

    The decoders return Python ints, which already forces MLX's lazy
    evaluation; ``mx.synchronize()`` makes sure no queued work is left
    running when the clock stops either way.
    """
    start = time.perf_counter()
    out = fn()
    mx.synchronize()
    return out, time.perf_counter() - start


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    """``items`` rotated left by ``shift`` (so each item takes each slot in turn)."""
    shift %= len(items)
    return list(items[shift:]) + list(items[:shift])


def make_configs(impl: Impl, draft: Any, target: Any, ks: Sequence[int], temperature: float,
                 speculator_costs: dict[str, float] | None = None) -> list[Config]:
    """The baseline, one speculative configuration per K, and optionally the adaptive one."""

    def baseline(prompt: list[int], max_tokens: int, key: Any) -> Any:
        return impl.autoregressive_generate(target, prompt, max_tokens, temperature=temperature, key=key)

    configs = [Config(BASELINE, None, baseline)]
    for k in ks:
        decoder = impl.SpeculativeDecoder(draft, target, k, temperature=temperature)
        configs.append(Config(f"K={k}", k, lambda p, n, key, d=decoder: d.generate(p, n, key=key)))
    if speculator_costs is not None:

        def adaptive(prompt: list[int], max_tokens: int, key: Any) -> Any:
            # A fresh speculator per generation: every prompt starts from K = 4.
            speculator = make_speculator(impl, speculator_costs)
            decoder = impl.SpeculativeDecoder(draft, target, ADAPTIVE_INITIAL_K, temperature=temperature,
                                              adaptive=speculator)
            return decoder.generate(prompt, max_tokens, key=key)

        configs.append(Config(ADAPTIVE, None, adaptive))
    return configs


def _key(seed: int, repeat: int, prompt_index: int, temperature: float) -> Any:
    # The same key for every configuration of one (repeat, prompt) pair.
    return mx.random.key(seed + 7919 * repeat + prompt_index) if temperature > 0 else None


def warm_up(configs: Sequence[Config], prompt: list[int], tokens: int, seed: int, temperature: float) -> None:
    """Run every configuration once, untimed: first calls pay for set-up and allocation."""
    for cfg in configs:
        cfg.run(prompt, tokens, _key(seed, 0, 0, temperature))


def run_sweep(
    configs: Sequence[Config],
    prompts: Sequence[list[int]],
    *,
    max_tokens: int,
    repeats: int,
    seed: int,
    temperature: float,
    on_step: Callable[[str], None] = lambda label: None,
    after_repeat: Callable[[int], None] = lambda repeat: None,
) -> dict[str, Runs]:
    """Time every configuration on every prompt, ``repeats`` times, rotating the order.

    For prompt ``i`` of repeat ``r`` the configurations run in the order
    rotated by ``r * len(prompts) + i``, so each one takes each slot (first,
    last, right after the baseline, ...) about equally often.
    ``after_repeat(r)`` is called after each repeat (the bench re-measures
    the per-token costs there).
    """
    runs = {cfg.label: Runs(cfg.label, cfg.k) for cfg in configs}
    for r in range(repeats):
        for i, prompt in enumerate(prompts):
            for cfg in rotated(configs, r * len(prompts) + i):
                key = _key(seed, r, i, temperature)
                result, secs = timed(lambda: cfg.run(prompt, max_tokens, key))
                runs[cfg.label].add(r, i, result, secs)
                on_step(cfg.label)
        after_repeat(r)
    return runs


@dataclass
class Mismatch:
    """A greedy output that differs from the target-only output."""

    label: str
    prompt_index: int
    repeat: int
    position: int
    expected: int | None
    got: int | None
    top2_gap: float | None = None
    #: The near-tie gap at that position (dtype- and scale-dependent, see testing.ties).
    tie_gap: float | None = None

    @property
    def near_tie(self) -> bool:
        """The target's two best logits were within the near-tie gap there."""
        limit = NEAR_TIE_GAP if self.tie_gap is None else self.tie_gap
        return self.top2_gap is not None and self.top2_gap < limit

    def diagnose(self, target: Any, context: Sequence[int]) -> None:
        """Measure the target's top-2 gap after ``context`` (the tokens before the mismatch)."""
        t = top2(target, context)
        self.top2_gap, self.tie_gap = t.gap, t.tie_gap

    def describe(self) -> str:
        """One line for the report."""
        where = f"{self.label}, prompt {self.prompt_index}, repeat {self.repeat}: first difference at token " \
                f"{self.position} (target-only {self.expected}, speculative {self.got})"
        if self.top2_gap is None:
            return where
        kind = ("a float near-tie: batched and single-token passes round differently"
                if self.near_tie else "not a near-tie: the decoder is not lossless")
        return f"{where}; target top-2 logit gap there {self.top2_gap:.2g} ({kind})"


def find_mismatches(runs: dict[str, Runs], baseline: str = BASELINE) -> list[Mismatch]:
    """Every configuration's outputs compared with the baseline's, prompt by prompt."""
    ref = runs[baseline].outputs
    found = []
    for label, r in runs.items():
        if label == baseline:
            continue
        for where, tokens in sorted(r.outputs.items()):
            want = ref.get(where)
            if want is None or tokens == want:
                continue
            pos = next((j for j, (a, b) in enumerate(zip(want, tokens)) if a != b), min(len(want), len(tokens)))
            found.append(Mismatch(label, where[1], where[0], pos, want[pos] if pos < len(want) else None,
                                  tokens[pos] if pos < len(tokens) else None))
    return found


# --------------------------------------------------------------------------
# mlx-lm's own implementation as a yardstick
# --------------------------------------------------------------------------
