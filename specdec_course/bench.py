"""``specdec bench``: an honest K sweep of your speculative decoder.

For every lookahead K the bench runs the target-only baseline and the
speculative decoder on the same prompts in the same process, with warm-up
runs excluded and the order of the configurations rotated from prompt to
prompt, so that a slow moment of the machine (another job, a thermal dip)
does not land on one configuration only. Under greedy decoding it checks
that every output equals the baseline's token for token. Then it measures
what the speedup formula needs - one target step, one draft step and one
verification pass of K + 1 tokens at a realistic cache length - and turns
everything into the table's figures with ``specdec.metrics.derive_figures``
of the chosen ``--impl``, so a student sees their own Week 2 Day 2 code at
work.

Optional rows: mlx-lm's own ``speculative_generate_step`` at the best K (a
yardstick for the implementation), and with ``--adaptive`` the
``AdaptiveSpeculator`` of Week 2 Day 3 on the real models plus a comparison
on simulated workloads (Week 2 Day 1's simulator).

The measuring functions take models and token lists, so the tests run them
on tiny in-process models; :func:`bench` is the command-line glue.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import make_prompt_cache, trim_prompt_cache
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from specdec_course.blas import blas_name
from specdec_course.mlxlm_speed import PROMPTS_PATH, load_prompts, mlx_lm_rounds

DEFAULT_KS = (0, 1, 2, 3, 4, 6, 8)
DEFAULT_OUT = Path("bench-results")
BASELINE = "target only"
ADAPTIVE = "adaptive"
#: A greedy mismatch whose target top-2 logit gap is below this is a float
#: near-tie (batched and single-token passes round differently), not a bug.
NEAR_TIE_GAP = 1e-3
#: The K the AdaptiveSpeculator starts from; its verify cost v is measured there.
ADAPTIVE_INITIAL_K = 4
#: Simulated workloads for the adaptive comparison: name -> agreement (alpha)
#: as a number or a function of the token index.
SIM_WORKLOADS: dict[str, float | Callable[[int], float]] = {
    "high agreement (α = 0.9)": 0.9,
    "low agreement (α = 0.5)": 0.5,
    "shifting (α 0.9 ↔ 0.3 every 100 tokens)": lambda n: 0.9 if (n // 100) % 2 == 0 else 0.3,
}
SIM_K_MAX = 12
ADAPTIVE_BAR = 0.95
PIPED_WIDTH = 150


# --------------------------------------------------------------------------
# Settings and the implementation under test
# --------------------------------------------------------------------------


@dataclass
class BenchSettings:
    """What to run; the defaults are the command's defaults."""

    ks: tuple[int, ...] = DEFAULT_KS
    max_tokens: int = 128
    repeats: int = 3
    temperature: float = 0.0
    adaptive: bool = False
    compare_mlx_lm: bool = True
    seed: int = 0
    warmup_tokens: int = 16
    cost_repeats: int = 30
    sim_tokens: int = 1000
    sim_seeds: int = 3

    def check(self) -> None:
        """Raise ``ValueError`` for settings that cannot be run."""
        if not self.ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in self.ks):
            raise ValueError(f"--k needs one or more ints >= 0, got {list(self.ks)}")
        for name in ("max_tokens", "repeats", "cost_repeats", "sim_tokens", "sim_seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature}")
        self.ks = tuple(sorted(set(self.ks)))


@dataclass(frozen=True)
class Impl:
    """The pieces of ``specdec`` the bench calls (from ``src`` or ``solutions``)."""

    name: str
    autoregressive_generate: Callable[..., Any]
    SpeculativeDecoder: type
    derive_figures: Callable[..., Any]
    AdaptiveSpeculator: type
    simulate_generation: Callable[..., Any]


def load_impl(name: str | None) -> Impl:
    """Activate ``--impl`` and import what the bench needs from it."""
    from specdec_course.impl import activate, requested_impl

    name = requested_impl(name)
    activate(name)
    from specdec.adaptive import AdaptiveSpeculator
    from specdec.baseline import autoregressive_generate
    from specdec.decoder import SpeculativeDecoder
    from specdec.metrics import derive_figures
    from specdec.simulator import simulate_generation

    return Impl(name, autoregressive_generate, SpeculativeDecoder, derive_figures, AdaptiveSpeculator,
                simulate_generation)


def preflight(impl: Impl, settings: BenchSettings) -> None:
    """Call the student's metrics (and adaptive pieces) once on made-up numbers.

    A stub raises ``NotImplementedError`` here, before minutes of measuring.
    """
    impl.derive_figures(4, spec_tokens=10, spec_seconds=1.0, base_tokens=10, base_seconds=2.0,
                        accepted_per_round=[4, 1], drafted_per_round=[4, 4], target_step_s=0.02,
                        draft_step_s=0.005, verify_s=0.025)
    if settings.adaptive:
        speculator = impl.AdaptiveSpeculator(draft_cost=0.25, verify_cost=1.2)
        speculator.update_lookahead(0.5, drafted=4)
        _ = speculator.lookahead
        impl.simulate_generation(4, agreement=0.5, lookahead=2)


# --------------------------------------------------------------------------
# Per-token costs: c and v(K)
# --------------------------------------------------------------------------


@dataclass
class StepCosts:
    """Median seconds of single forward passes at one cache length.

    Attributes:
        context_len: tokens in the KV cache when the passes were timed.
        target_step_s: one target pass over 1 token.
        draft_step_s: one draft pass over 1 token.
        verify_s: K -> one target pass over K + 1 tokens (K = 0 is the
            target step itself).
        samples: the number of timed calls behind each median.
    """

    context_len: int
    target_step_s: float
    draft_step_s: float
    verify_s: dict[int, float]
    samples: int

    def c(self) -> float:
        """Draft step / target step."""
        return self.draft_step_s / self.target_step_s

    def v(self, k: int) -> float:
        """Verify pass of K + 1 tokens / target step."""
        return self.verify_s[k] / self.target_step_s


def realistic_context(prompt: Sequence[int], max_tokens: int) -> list[int]:
    """A context as long as the middle of a generation: prompt + max_tokens / 2 tokens.

    The extra tokens repeat the prompt: a dense model's forward pass costs the
    same whatever the token ids are; only the cache length matters.
    """
    prompt = list(prompt)
    want = len(prompt) + max(1, max_tokens // 2)
    return (prompt * (want // len(prompt) + 1))[:want]


def time_forward(model: Any, cache: list[Any], tokens: Sequence[int]) -> float:
    """Seconds of one cached forward pass over ``tokens``; the cache is trimmed back after.

    ``mx.eval`` forces the lazy graph before the clock stops: without it the
    call would only *build* the computation and take microseconds.
    """
    x = mx.array(list(tokens))[None]
    start = time.perf_counter()
    mx.eval(model(x, cache=cache))
    elapsed = time.perf_counter() - start
    trim_prompt_cache(cache, len(tokens))
    return elapsed


def measure_costs(
    draft: Any,
    target: Any,
    context: Sequence[int],
    ks: Sequence[int],
    *,
    repeats: int = 20,
    warmup: int = 2,
) -> StepCosts:
    """Time single-token steps of both models and (K+1)-token verify passes.

    Both caches are prefilled with ``context``; every timed call feeds new
    tokens at that position and trims them off again, so every call sees the
    same cache length. The calls are interleaved - one of each kind per
    repetition, in a rotating order - so that drift in the machine's speed
    spreads over all of them; the first ``warmup`` repetitions are dropped
    and the median of the rest is kept (robust to a stray slow call).
    """
    context = list(context)
    caches = {"target": make_prompt_cache(target), "draft": make_prompt_cache(draft)}
    mx.eval(target(mx.array(context)[None], cache=caches["target"]))
    mx.eval(draft(mx.array(context)[None], cache=caches["draft"]))
    verify_ks = sorted({k for k in ks if k > 0})
    # (name, model, which cache, tokens per call)
    jobs: list[tuple[str, Any, str, int]] = [("target", target, "target", 1), ("draft", draft, "draft", 1)]
    jobs += [(f"verify{k}", target, "target", k + 1) for k in verify_ks]
    times: dict[str, list[float]] = {name: [] for name, _, _, _ in jobs}
    for rep in range(repeats + warmup):
        for name, model, cache_name, n in rotated(jobs, rep):
            tokens = (context * (n // len(context) + 1))[:n]
            elapsed = time_forward(model, caches[cache_name], tokens)
            if rep >= warmup:
                times[name].append(elapsed)
    med = {name: statistics.median(t) for name, t in times.items()}
    verify = {k: med[f"verify{k}"] for k in verify_ks}
    if 0 in ks:
        verify[0] = med["target"]
    return StepCosts(len(context), med["target"], med["draft"], verify, repeats)


def add_verify_cost(costs: StepCosts, draft: Any, target: Any, context: Sequence[int], k: int, *,
                    repeats: int = 20) -> None:
    """Measure v(K) for one more K and add it to ``costs`` (nothing to do if it is there).

    The new session's verify time is scaled by the ratio of the two target
    step times, so ``costs.v(k)`` is a ratio taken within one session.
    """
    if k in costs.verify_s:
        return
    extra = measure_costs(draft, target, context, [k], repeats=repeats)
    if k > 0:
        costs.verify_s[k] = extra.v(k) * costs.target_step_s
    else:
        costs.verify_s[0] = costs.target_step_s


def combine_costs(sessions: Sequence[StepCosts]) -> StepCosts:
    """One :class:`StepCosts` from several measuring sessions spread over the run.

    The ratios c and v(K) are taken within each session (so a session that
    ran while the machine was busy is compared with itself) and the median
    over sessions is kept; the target step is the median target step.
    """
    if len(sessions) == 1:
        return sessions[0]
    target = statistics.median(x.target_step_s for x in sessions)
    c = statistics.median(x.c() for x in sessions)
    ks = set.intersection(*(set(x.verify_s) for x in sessions))
    verify = {k: statistics.median(x.v(k) for x in sessions) * target for k in sorted(ks)}
    return StepCosts(sessions[0].context_len, target, c * target, verify, sum(x.samples for x in sessions))


# --------------------------------------------------------------------------
# Generations: timed, interleaved, checked
# --------------------------------------------------------------------------


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

    @property
    def near_tie(self) -> bool:
        """The target's two best logits were within :data:`NEAR_TIE_GAP` there."""
        return self.top2_gap is not None and self.top2_gap < NEAR_TIE_GAP

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


def top2_gap(model: Any, context: Sequence[int]) -> float:
    """Gap between the model's two largest logits after ``context`` (one uncached pass)."""
    logits = model(mx.array(list(context))[None])[0, -1].astype(mx.float32)
    top = mx.sort(logits)[-2:].tolist()
    return float(top[1] - top[0])


# --------------------------------------------------------------------------
# mlx-lm's own implementation as a yardstick
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Simulated workloads for the adaptive policy
# --------------------------------------------------------------------------


def verify_line(costs: StepCosts) -> tuple[float, float]:
    """``(v0, slope)`` of a straight line fitted to the measured v(K), with v(0) = 1."""
    import numpy as np

    ks = sorted(set(costs.verify_s) | {0})
    vs = [1.0 if k == 0 else costs.v(k) for k in ks]
    if len(ks) == 1:
        return 1.0, 0.0
    slope, intercept = np.polyfit(ks, vs, 1)
    return max(1e-3, float(intercept)), max(0.0, float(slope))


def verify_cost_model(costs: StepCosts) -> Callable[[int], float]:
    """v(K) for any K, from :func:`verify_line`."""
    v0, slope = verify_line(costs)
    return lambda k: v0 + slope * k


def adaptive_costs(c: float, v0: float, slope: float) -> dict[str, float]:
    """AdaptiveSpeculator cost arguments for a verify cost that grows with K.

    The speedup model E / (K c + v) takes a constant v, but a verify pass of
    K + 1 tokens costs about v0 + slope * K. Then
    E / (K c + v0 + slope K) = E / (K (c + slope) + v0): the slope is folded
    into the per-draft-token cost.
    """
    return {"draft_cost": c + slope, "verify_cost": v0}


def make_speculator(impl: Impl, costs: dict[str, float]) -> Any:
    """The bench's AdaptiveSpeculator, told the measured costs."""
    return impl.AdaptiveSpeculator(ADAPTIVE_INITIAL_K, **costs)


@dataclass
class SimRow:
    """Adaptive vs the best fixed K on one simulated workload."""

    workload: str
    best_k: int
    best_fixed_speedup: float
    adaptive_speedup: float
    ratio: float
    fixed_speedups: dict[int, float]
    adaptive_mean_k: float


def simulate_adaptive(
    impl: Impl,
    c: float,
    v_of_k: Callable[[int], float],
    *,
    tokens: int,
    seeds: int,
    workloads: dict[str, float | Callable[[int], float]] = SIM_WORKLOADS,
    k_max: int = SIM_K_MAX,
    on_step: Callable[[str], None] = lambda label: None,
) -> list[SimRow]:
    """Sweep fixed K = 1..k_max and the AdaptiveSpeculator on simulated workloads.

    Costs in target-step units: a draft step costs ``c`` and a verify pass
    ``v_of_k(K)``, as measured on the real models. Every policy sees the same
    seeds (common random numbers), so differences are policy, not luck.
    """
    rows = []
    for name, agreement in workloads.items():
        def speed(policy: Callable[[], dict[str, Any]]) -> tuple[float, float]:
            # Speedup over all seeds together (total target-only time / total time) and the mean K used.
            plain = spec = 0.0
            used: list[int] = []
            for s in range(seeds):
                res = impl.simulate_generation(tokens, agreement=agreement, target_ms=1.0, draft_ms=c,
                                               verify_ms=v_of_k, seed=s, **policy())
                plain += res.target_only_ms
                spec += res.spec_ms
                used += list(res.lookaheads)
            return plain / spec, statistics.fmean(used)

        fixed = {}
        for k in range(1, k_max + 1):
            fixed[k] = speed(lambda k=k: {"lookahead": k})[0]
            on_step(name)
        # A fresh speculator per seed, told the measured costs (the verify line folded into c).
        costs = adaptive_costs(c, v_of_k(0), v_of_k(1) - v_of_k(0))
        adaptive_speed, mean_k = speed(lambda: {"adaptive": make_speculator(impl, costs)})
        on_step(name)
        best_k = max(fixed, key=fixed.get)
        rows.append(SimRow(name, best_k, fixed[best_k], adaptive_speed, adaptive_speed / fixed[best_k], fixed,
                           mean_k))
    return rows


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table (and of bench.csv)."""

    label: str
    k: int | None
    tokens: int
    seconds: float
    tokens_per_s: float
    tokens_per_s_std: float | None
    speedup: float
    target_calls: float
    draft_calls: float
    alpha: float | None = None
    mean_accepted: float | None = None
    c: float | None = None
    v: float | None = None
    predicted_speedup: float | None = None
    measured_over_predicted: float | None = None
    identical: bool | None = None
    group: str = "sweep"
    rounds: int | None = None
    tokens_drafted: int | None = None
    tokens_accepted: int | None = None


@dataclass
class BenchReport:
    """What :func:`run_bench` measured; :func:`write_outputs` saves it."""

    settings: BenchSettings
    blas: str
    machine: dict[str, Any]
    impl: str
    models: dict[str, str]
    n_prompts: int
    costs: StepCosts
    rows: list[Row]
    mismatches: list[Mismatch]
    mlx_lm_mismatches: list[Mismatch] = field(default_factory=list)
    simulated: list[SimRow] = field(default_factory=list)
    cost_sessions: list[StepCosts] = field(default_factory=list)
    best_k: int | None = None
    seconds: float = 0.0

    @property
    def greedy(self) -> bool:
        """Whether outputs must equal the baseline's (temperature 0)."""
        return self.settings.temperature == 0

    @property
    def ok(self) -> bool:
        """False when greedy outputs differ from the baseline's."""
        return not (self.greedy and self.mismatches)


def machine_info() -> dict[str, Any]:
    """Where the numbers were taken (they mean little without it)."""
    import mlx_lm

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "mlx": mx.__version__,
        "mlx_lm": mlx_lm.__version__,
    }
    # Thread counts change the cost of multi-token passes (v) on a busy CPU.
    info["env"] = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "LD_PRELOAD")}
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _std(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def _row_from_figures(runs: Runs, figures: Any, group: str, identical: bool | None) -> Row:
    per = max(runs.generations, 1)
    return Row(
        label=runs.label, k=runs.k, tokens=runs.tokens, seconds=runs.seconds,
        tokens_per_s=figures.spec_tokens_per_s, tokens_per_s_std=_std(runs.repeat_tokens_per_s),
        speedup=figures.speedup, target_calls=runs.target_calls / per, draft_calls=runs.draft_calls / per,
        alpha=figures.alpha, mean_accepted=figures.mean_accepted, c=figures.c, v=figures.v,
        predicted_speedup=figures.predicted_speedup, measured_over_predicted=figures.measured_over_predicted,
        identical=identical, group=group, rounds=len(runs.accepted_per_round),
        tokens_drafted=sum(runs.drafted_per_round), tokens_accepted=sum(runs.accepted_per_round),
    )


def _baseline_row(runs: Runs, group: str) -> Row:
    per = max(runs.generations, 1)
    return Row(label=runs.label, k=None, tokens=runs.tokens, seconds=runs.seconds, tokens_per_s=runs.tokens_per_s,
               tokens_per_s_std=_std(runs.repeat_tokens_per_s), speedup=1.0, target_calls=runs.target_calls / per,
               draft_calls=runs.draft_calls / per, group=group)


def figures_for(impl: Impl, runs: Runs, base: Runs, costs: StepCosts, k: int) -> Any:
    """``derive_figures`` of the chosen implementation for one configuration."""
    return impl.derive_figures(
        k, spec_tokens=runs.tokens, spec_seconds=runs.seconds, base_tokens=base.tokens,
        base_seconds=base.seconds, accepted_per_round=runs.accepted_per_round,
        drafted_per_round=runs.drafted_per_round, target_step_s=costs.target_step_s,
        draft_step_s=costs.draft_step_s, verify_s=costs.verify_s[k])


def _identical(label: str, runs: Runs, mismatches: list[Mismatch], greedy: bool) -> bool | None:
    if not greedy:
        return None
    return not any(m.label == label for m in mismatches)


def run_bench(
    draft: Any,
    target: Any,
    prompts: Sequence[list[int]],
    settings: BenchSettings,
    impl: Impl,
    *,
    models: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> BenchReport:
    """Measure everything and return the report (prints nothing; see :func:`render`).

    Order: warm-up; per-token costs (c, v(K)); the interleaved sweep of the
    baseline, every K (and the adaptive decoder); the greedy identity check;
    mlx-lm's implementation at the best K; the simulated adaptive workloads.
    """
    settings.check()
    if not prompts or any(len(p) < 1 for p in prompts):
        raise ValueError("the bench needs at least one prompt of at least one token")
    started = time.perf_counter()
    prompts = [list(p) for p in prompts]
    progress = progress or Progress(disable=True)
    n_configs = 1 + len(settings.ks) + int(settings.adaptive)
    sweep_steps = settings.repeats * len(prompts) * n_configs
    mlx_steps = 2 + 2 * settings.repeats * len(prompts) if settings.compare_mlx_lm else 0
    sim_steps = len(SIM_WORKLOADS) * (SIM_K_MAX + 1) if settings.adaptive else 0
    cost_steps = 1 + settings.repeats
    task = progress.add_task("warming up", total=n_configs + cost_steps + sweep_steps + mlx_steps + sim_steps)

    def step(label: str) -> None:
        progress.update(task, advance=1, description=label)

    # Costs first (the adaptive speculator needs c and v), after one warm-up.
    plain_configs = make_configs(impl, draft, target, settings.ks, settings.temperature)
    warm = min(settings.warmup_tokens, settings.max_tokens)
    warm_up(plain_configs, prompts[0], warm, settings.seed, settings.temperature)
    progress.update(task, advance=len(plain_configs), description="measuring c and v(K)")
    cost_ks = sorted(set(settings.ks) | ({ADAPTIVE_INITIAL_K} if settings.adaptive else set()))
    context = realistic_context(prompts[0], settings.max_tokens)
    sessions = [measure_costs(draft, target, context, cost_ks, repeats=settings.cost_repeats)]
    costs = sessions[0]
    step("measuring c and v(K)")

    def remeasure(repeat: int) -> None:
        # Costs again after every repeat: the load of a shared machine changes during a run,
        # and c, v should see the same conditions as the generations they explain.
        sessions.append(measure_costs(draft, target, context, cost_ks, repeats=settings.cost_repeats))
        step("measuring c and v(K)")

    speculator_costs = adaptive_costs(costs.c(), *verify_line(costs)) if settings.adaptive else None
    configs = make_configs(impl, draft, target, settings.ks, settings.temperature, speculator_costs)
    if settings.adaptive:
        warm_up(configs[-1:], prompts[0], warm, settings.seed, settings.temperature)
        step(ADAPTIVE)
    runs = run_sweep(configs, prompts, max_tokens=settings.max_tokens, repeats=settings.repeats,
                     seed=settings.seed, temperature=settings.temperature, on_step=step, after_repeat=remeasure)
    costs = combine_costs(sessions)

    greedy = settings.temperature == 0
    mismatches = find_mismatches(runs) if greedy else []
    for m in mismatches[:20]:  # diagnose the first few: near-tie or bug?
        ref = runs[BASELINE].outputs[(m.repeat, m.prompt_index)]
        m.top2_gap = top2_gap(target, prompts[m.prompt_index] + ref[: m.position])

    base = runs[BASELINE]
    rows = [_baseline_row(base, "sweep")]
    for k in settings.ks:
        r = runs[f"K={k}"]
        rows.append(_row_from_figures(r, figures_for(impl, r, base, costs, k), "sweep",
                                      _identical(r.label, r, mismatches, greedy)))
    sweep_rows = [row for row in rows if row.k]
    best_k = max(sweep_rows, key=lambda row: row.speedup).k if sweep_rows else None

    if settings.adaptive:
        r = runs[ADAPTIVE]
        # Its K varies; the prediction uses the mean K of its drafting rounds, rounded.
        used = [d for d in r.drafted_per_round if d > 0]
        k_mean = round(statistics.fmean(used)) if used else 0
        add_verify_cost(costs, draft, target, realistic_context(prompts[0], settings.max_tokens), k_mean,
                        repeats=settings.cost_repeats)
        row = _row_from_figures(r, figures_for(impl, r, base, costs, k_mean), "adaptive",
                                _identical(r.label, r, mismatches, greedy))
        row.k = k_mean
        rows.append(row)

    mlx_mismatches: list[Mismatch] = []
    if settings.compare_mlx_lm:
        k_ref = best_k or max(settings.ks) or 1
        add_verify_cost(costs, draft, target, realistic_context(prompts[0], settings.max_tokens), k_ref,
                        repeats=settings.cost_repeats)
        mlx = mlx_lm_configs(draft, target, k_ref, settings.temperature)
        warm_up(mlx, prompts[0], warm, settings.seed, settings.temperature)
        step("mlx-lm warm-up")
        step("mlx-lm warm-up")
        mlx_runs = run_sweep(mlx, prompts, max_tokens=settings.max_tokens, repeats=settings.repeats,
                             seed=settings.seed, temperature=settings.temperature, on_step=step)
        mlx_base, mlx_spec = mlx_runs[mlx[0].label], mlx_runs[mlx[1].label]
        # mlx-lm is checked against OUR baseline too (three implementations, one answer), but
        # its differences are reported, not failed on: they are not the student's code.
        if greedy:
            mlx_mismatches = find_mismatches({BASELINE: base, **mlx_runs})
            for m in mlx_mismatches[:10]:
                ref = base.outputs[(m.repeat, m.prompt_index)]
                m.top2_gap = top2_gap(target, prompts[m.prompt_index] + ref[: m.position])
        brow = _baseline_row(mlx_base, "mlx-lm")
        brow.speedup = mlx_base.tokens_per_s / base.tokens_per_s
        brow.identical = _identical(mlx_base.label, mlx_base, mlx_mismatches, greedy)
        rows.append(brow)
        rows.append(_row_from_figures(mlx_spec, figures_for(impl, mlx_spec, mlx_base, costs, k_ref), "mlx-lm",
                                      _identical(mlx_spec.label, mlx_spec, mlx_mismatches, greedy)))

    simulated = []
    if settings.adaptive:
        simulated = simulate_adaptive(impl, costs.c(), verify_cost_model(costs), tokens=settings.sim_tokens,
                                      seeds=settings.sim_seeds, on_step=step)

    return BenchReport(
        settings=settings, blas=blas_name(), machine=machine_info(), impl=impl.name, models=models or {},
        n_prompts=len(prompts), costs=costs, cost_sessions=sessions, rows=rows, mismatches=mismatches,
        mlx_lm_mismatches=mlx_mismatches, simulated=simulated,
        best_k=best_k, seconds=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------
# Printing and saving
# --------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:{spec}}{suffix}"


def _same(identical: bool | None) -> str:
    return {True: "[green]yes[/green]", False: "[red]NO[/red]", None: "n/a"}[identical]


def render(console: Console, report: BenchReport) -> None:
    """Print the report as rich tables with the BLAS line."""
    if not console.is_terminal and console.width < PIPED_WIDTH:
        console.width = PIPED_WIDTH  # piped into a file rich assumes 80 columns; the table needs more
    s = report.settings
    costs = report.costs
    console.print(f"[bold]BLAS:[/bold] {report.blas}   [bold]machine:[/bold] {report.machine['machine']} "
                  f"{report.machine['cpu_count']} CPUs, load {report.machine.get('load_average', '?')}   "
                  f"[bold]impl:[/bold] {report.impl}")
    console.print(f"{report.n_prompts} prompts x {s.repeats} repeat(s), {s.max_tokens} new tokens each (EOS "
                  f"ignored), T = {s.temperature}; per-token costs at a cache of {costs.context_len} tokens: "
                  f"target {costs.target_step_s * 1e3:.2f} ms, draft {costs.draft_step_s * 1e3:.2f} ms, "
                  f"c = {costs.c():.3f}")
    if len(report.cost_sessions) > 1:
        k_top = max(costs.verify_s)
        cs = [x.c() for x in report.cost_sessions]
        vs = [x.v(k_top) for x in report.cost_sessions if k_top in x.verify_s]
        console.print(f"costs measured {len(report.cost_sessions)} times during the run (medians used): "
                      f"c {min(cs):.3f}-{max(cs):.3f}, v({k_top}) {min(vs):.2f}-{max(vs):.2f}")
    table = Table(title="speculative decoding vs target-only: measured and predicted", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    columns = ("K", "tokens/s", "speedup", "target calls", "draft calls", "α̂", "accepted /round", "c", "v",
               "predicted S", "measured /predicted", "identical")
    for col in columns:
        table.add_column(col, justify="right")
    for row in report.rows:
        if row.group == "sweep":
            name = BASELINE if row.k is None else str(row.k)
        elif row.group == "adaptive":
            name = f"adaptive (mean K≈{row.k})"
        else:
            name = row.label
        tps = _fmt(row.tokens_per_s, ".1f")
        if row.tokens_per_s_std is not None:
            tps += f" ± {row.tokens_per_s_std:.1f}"
        style = "bold green" if row.group == "sweep" and row.k == report.best_k and row.k else None
        table.add_row(
            name, tps, _fmt(row.speedup, ".2f", "x"), _fmt(row.target_calls, ".1f"), _fmt(row.draft_calls, ".1f"),
            _fmt(row.alpha, ".3f"), _fmt(row.mean_accepted, ".2f"), _fmt(row.c, ".3f"), _fmt(row.v, ".2f"),
            _fmt(row.predicted_speedup, ".2f", "x"), _fmt(row.measured_over_predicted, ".2f"),
            _same(row.identical), style=style, end_section=row.group == "sweep" and row.k == max(s.ks),
        )
    console.print(table)
    console.print("calls are per generation (prefill included); α̂ = accepted / (accepted + rejected rounds); "
                  "predicted S = E(α̂, K) / (K·c + v); mlx-lm rows: speedup over mlx-lm's own generate_step")
    if report.greedy:
        if report.mismatches:
            console.print(f"[bold red]FAIL: {len(report.mismatches)} greedy output(s) differ from target-only "
                          f"decoding - speculative decoding must be lossless:[/bold red]")
            for m in report.mismatches[:10]:
                console.print(f"  [red]{m.describe()}[/red]")
        else:
            console.print(f"[green]identical output:[/green] every K matches target-only decoding on all "
                          f"{report.n_prompts} prompts x {s.repeats} repeat(s)")
        for m in report.mlx_lm_mismatches[:5]:
            console.print(f"  [yellow]mlx-lm differs: {m.describe()}[/yellow]")
    else:
        console.print("identical output: not expected at T > 0 (each decoder samples the target's distribution)")
    if report.simulated:
        sim = Table(title="AdaptiveSpeculator vs the best fixed K on simulated workloads (measured c and v(K))",
                    box=box.SIMPLE_HEAD, pad_edge=False)
        sim.add_column("workload", justify="left")
        for col in ("best fixed K", "its speedup", "adaptive speedup", "mean K used",
                    f"adaptive / best (bar {ADAPTIVE_BAR})"):
            sim.add_column(col, justify="right")
        for r in report.simulated:
            verdict = "green" if r.ratio >= ADAPTIVE_BAR else "yellow"
            sim.add_row(r.workload, str(r.best_k), f"{r.best_fixed_speedup:.2f}x", f"{r.adaptive_speedup:.2f}x",
                        f"{r.adaptive_mean_k:.1f}", f"[{verdict}]{r.ratio:.3f}[/{verdict}]")
        console.print(sim)
    console.print(f"[dim]bench took {report.seconds:.0f} s[/dim]")


CSV_FIELDS = ("label", "group", "k", "tokens", "seconds", "tokens_per_s", "tokens_per_s_std", "speedup",
              "target_calls", "draft_calls", "alpha", "mean_accepted", "c", "v", "predicted_speedup",
              "measured_over_predicted", "identical", "rounds", "tokens_drafted", "tokens_accepted")


def _plain(value: Any) -> Any:
    # JSON has no NaN: write null instead.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def report_dict(report: BenchReport) -> dict[str, Any]:
    """Everything in the report as JSON-ready data."""
    costs = report.costs
    return _plain({
        "blas": report.blas,
        "machine": report.machine,
        "impl": report.impl,
        "models": report.models,
        "settings": {**asdict(report.settings), "n_prompts": report.n_prompts},
        "costs": {
            "context_len": costs.context_len, "samples": costs.samples,
            "target_step_ms": costs.target_step_s * 1e3, "draft_step_ms": costs.draft_step_s * 1e3,
            "verify_ms": {k: t * 1e3 for k, t in sorted(costs.verify_s.items())},
            "c": costs.c(), "v": {k: costs.v(k) for k in sorted(costs.verify_s)},
            "sessions": [{"target_step_ms": x.target_step_s * 1e3, "c": x.c(),
                          "v": {k: x.v(k) for k in sorted(x.verify_s)}} for x in report.cost_sessions],
        },
        "best_k": report.best_k,
        "identical_output": (not report.mismatches) if report.greedy else None,
        "mismatches": [{**asdict(m), "near_tie": m.near_tie} for m in report.mismatches],
        "mlx_lm_mismatches": [{**asdict(m), "near_tie": m.near_tie} for m in report.mlx_lm_mismatches],
        "rows": [asdict(r) for r in report.rows],
        "simulated_adaptive": [asdict(r) for r in report.simulated],
        "seconds": report.seconds,
    })


def _plot_files(report: BenchReport, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = [r for r in report.rows if r.group == "sweep" and r.k is not None]
    ks = [r.k for r in sweep]
    paths = []

    def save(fig: Any, ax: Any, name: str) -> None:
        ax.legend()
        fig.tight_layout()
        paths.append(out / name)
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, [r.speedup for r in sweep], "o-", label="measured")
    ax.plot(ks, [math.nan if r.predicted_speedup is None else r.predicted_speedup for r in sweep], "s--",
            label="predicted E(α̂,K)/(K·c+v)")
    for r in report.rows:
        if r.group == "mlx-lm" and r.k is not None:
            ax.plot([r.k], [r.speedup], "^", label="mlx-lm (vs its own baseline)")
        if r.group == "adaptive":
            ax.axhline(r.speedup, color="grey", linestyle=":", label="adaptive")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set(xlabel="lookahead K", ylabel="speedup over target-only", title="Speedup vs K", xticks=ks)
    save(fig, ax, "speedup_vs_k.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, [r.target_calls for r in sweep], "o-", label="target calls")
    ax.plot(ks, [r.draft_calls for r in sweep], "s--", label="draft calls")
    base = next((r for r in report.rows if r.group == "sweep" and r.k is None), None)
    if base is not None:
        ax.axhline(base.target_calls, color="grey", linestyle=":", label="target-only calls")
    ax.set(xlabel="lookahead K", ylabel=f"calls per generation of {report.settings.max_tokens} tokens",
           title="Forward passes vs K", xticks=ks)
    save(fig, ax, "target_calls_vs_k.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    points = [r for r in report.rows if r.k is not None and r.predicted_speedup is not None
              and math.isfinite(r.predicted_speedup)]
    xs, ys = [r.predicted_speedup for r in points], [r.speedup for r in points]
    ax.scatter(xs, ys)
    for r in points:
        ax.annotate(r.label, (r.predicted_speedup, r.speedup), textcoords="offset points", xytext=(4, 4),
                    fontsize=8)
    lo = min([*xs, *ys, 1.0]) * 0.9
    hi = max([*xs, *ys, 1.0]) * 1.1
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=0.8, label="measured = predicted")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="predicted speedup", ylabel="measured speedup",
           title="Measured vs predicted")
    save(fig, ax, "measured_vs_predicted.png")
    return paths


def write_outputs(report: BenchReport, out: Path) -> list[Path]:
    """Write ``bench.csv``, ``bench.json`` and the PNG plots into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "bench.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in report.rows:
            writer.writerow({k: ("" if v is None else v) for k, v in _plain(asdict(row)).items()})
    json_path = out / "bench.json"
    json_path.write_text(json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n")
    return [csv_path, json_path, *_plot_files(report, out)]


def make_progress(console: Console) -> Progress:
    """The progress bar shown while the bench runs."""
    return Progress(TextColumn("[progress.description]{task.description:<28}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)


def run_and_report(
    console: Console,
    draft: Any,
    target: Any,
    prompts: Sequence[list[int]],
    settings: BenchSettings,
    impl: Impl,
    out: Path,
    *,
    models: dict[str, str] | None = None,
) -> int:
    """Run the bench on loaded models, print the tables, write the files; returns the exit status.

    1 when a greedy output differs from the baseline's (the decoder is not
    lossless) or a task is not written yet; 0 otherwise.
    """
    from specdec_course.demo import TaskNotWritten, friendly_stubs, report_unwritten

    try:
        with friendly_stubs():
            preflight(impl, settings)
            with make_progress(console) as progress:
                report = run_bench(draft, target, prompts, settings, impl, models=models, progress=progress)
    except TaskNotWritten as err:
        return report_unwritten(console, err, impl.name)
    render(console, report)
    paths = write_outputs(report, out)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return 0 if report.ok else 1


def bench(console: Console, *, ks: Sequence[int], draft: str | None, target: str | None, temperature: float,
          prompts_file: str | None, num_prompts: int, max_tokens: int, repeats: int, out: str | Path,
          adaptive: bool, compare_mlx_lm: bool, impl: str | None, seed: int = 0) -> int:
    """``specdec bench``: load the models and prompts, then :func:`run_and_report`."""
    from specdec_course.demo import TaskNotWritten, friendly_stubs, report_unwritten
    from specdec_course.impl import requested_impl
    from specdec_course.models import ModelPairError, load_pair

    settings = BenchSettings(ks=tuple(ks), max_tokens=max_tokens, repeats=repeats, temperature=temperature,
                             adaptive=adaptive, compare_mlx_lm=compare_mlx_lm, seed=seed)
    try:
        settings.check()
        if num_prompts < 1:
            raise ValueError(f"--num-prompts must be >= 1, got {num_prompts}")
    except ValueError as err:
        console.print(f"[red]{err}[/red]")
        return 2
    name = requested_impl(impl)
    implementation = load_impl(name)
    try:
        with friendly_stubs():
            preflight(implementation, settings)  # before loading models: fail fast on a stub
    except TaskNotWritten as err:
        return report_unwritten(console, err, name)
    try:
        with console.status("loading models"):
            draft_model, target_model, tokenizer = load_pair(draft, target)
    except ModelPairError as err:
        console.print(f"[red]{err}[/red]")
        return 2
    texts = load_prompts(Path(prompts_file) if prompts_file else PROMPTS_PATH)[:num_prompts]
    prompts = [tokenizer.encode(t) for t in texts]
    models = {"draft": draft or "bundled specdec-draft", "target": target or "bundled specdec-target",
              "prompts": str(prompts_file or PROMPTS_PATH)}
    return run_and_report(console, draft_model, target_model, prompts, settings, implementation, Path(out),
                          models=models)
