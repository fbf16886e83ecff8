"""What a bench run measures, and the implementation (``--impl``) under test."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_KS = (0, 1, 2, 3, 4, 6, 8)
DEFAULT_MAX_TOKENS = 128
#: ``--batch``'s own defaults: a batched round costs more, and B rows multiply the tokens.
BATCH_KS = (1, 2, 3)
BATCH_MAX_TOKENS = 64
DEFAULT_OUT = Path("bench-results")
BASELINE = "target only"
ADAPTIVE = "adaptive"
# The near-tie notion (a greedy mismatch whose target top-2 logit gap is below a dtype-scaled
# gap is float noise, not a bug) lives in specdec_course.testing.ties, shared with the tests.
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
R = TypeVar("R")


# --------------------------------------------------------------------------
# Settings and the implementation under test
# --------------------------------------------------------------------------


@dataclass
class BenchSettings:
    """What to run; the defaults are the command's defaults."""

    ks: tuple[int, ...] = DEFAULT_KS
    max_tokens: int = DEFAULT_MAX_TOKENS
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
        if not self.ks or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in self.ks
        ):
            raise ValueError(f"--k needs one or more ints >= 0, got {list(self.ks)}")
        for name in ("max_tokens", "repeats", "cost_repeats", "sim_tokens", "sim_seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature}")
        self.ks = tuple(sorted(set(self.ks)))


@dataclass(frozen=True)
class Impl:
    """The pieces of ``specdec`` the bench calls (from the implementation ``--impl`` chose)."""

    name: str
    autoregressive_generate: Callable[..., Any]
    SpeculativeDecoder: type
    derive_figures: Callable[..., Any]
    AdaptiveSpeculator: type
    simulate_generation: Callable[..., Any]


def load_impl(name: str | None) -> Impl:
    """Activate ``--impl`` and import what the bench needs from it."""
    from specdec_course.core.impl import activate, requested_impl

    name = requested_impl(name)
    activate(name)
    from specdec.adaptive import AdaptiveSpeculator
    from specdec.baseline import autoregressive_generate
    from specdec.decoder import SpeculativeDecoder
    from specdec.metrics import derive_figures
    from specdec.simulator import simulate_generation

    return Impl(
        name,
        autoregressive_generate,
        SpeculativeDecoder,
        derive_figures,
        AdaptiveSpeculator,
        simulate_generation,
    )


def preflight(impl: Impl, settings: BenchSettings) -> None:
    """Call the student's metrics (and adaptive pieces) once on made-up numbers.

    A stub raises ``NotImplementedError`` here, before minutes of measuring.
    """
    impl.derive_figures(
        4,
        spec_tokens=10,
        spec_seconds=1.0,
        base_tokens=10,
        base_seconds=2.0,
        accepted_per_round=[4, 1],
        drafted_per_round=[4, 4],
        target_step_s=0.02,
        draft_step_s=0.005,
        verify_s=0.025,
    )
    if settings.adaptive:
        speculator = impl.AdaptiveSpeculator(draft_cost=0.25, verify_cost=1.2)
        speculator.update_lookahead(0.5, drafted=4)
        _ = speculator.lookahead
        impl.simulate_generation(4, agreement=0.5, lookahead=2)


def load_line() -> str:
    """The machine's load average, printed beside timings: a busy machine explains noisy figures."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def load_models_and_prompts(
    console: Any, draft: str | None, target: str | None, prompts_file: str | None, count: int
) -> tuple[Any, Any, list[list[int]]] | None:
    """Load the draft/target pair and the first ``count`` prompts, tokenized.

    The one loading path of every bench mode. Returns None after printing the reason
    when the pair is refused (the caller exits with status 2).
    """
    from specdec_course.api.models import ModelPairError, load_pair
    from specdec_course.core.paths import PROMPTS_PATH, load_prompts

    try:
        with console.status("loading models"):
            draft_model, target_model, tokenizer = load_pair(draft, target)
    except ModelPairError as err:
        console.print(f"[red]{err}[/red]")
        return None
    texts = load_prompts(Path(prompts_file) if prompts_file else PROMPTS_PATH)[:count]
    return draft_model, target_model, [tokenizer.encode(t) for t in texts]


def measure_with_impl(
    console: Any,
    impl: str | None,
    draft: str | None,
    target: str | None,
    prompts_file: str | None,
    count: int,
    measure: Callable[[str, Any, Any, list[list[int]]], R],
) -> R | int:
    """Activate ``--impl``, load the pair and ``count`` prompts, and return ``measure``'s report.

    The frame of ``--batch`` and ``--week4``: ``measure(impl_name, draft, target, prompts)``
    runs with an unwritten stub turned into one friendly line. Returns an ``int`` exit status
    instead of a report, after printing why, when the pair is refused (2) or a task is not
    written yet (1).
    """
    from specdec_course.bench.frame import warn_if_loaded
    from specdec_course.core.impl import activate, requested_impl
    from specdec_course.core.unwritten import TaskNotWritten, friendly_stubs, report_unwritten

    name = requested_impl(impl)
    activate(name)
    loaded = load_models_and_prompts(console, draft, target, prompts_file, count)
    if loaded is None:
        return 2
    warn_if_loaded(console)
    try:
        with friendly_stubs():
            return measure(name, *loaded)
    except TaskNotWritten as err:
        return report_unwritten(console, err, name)
