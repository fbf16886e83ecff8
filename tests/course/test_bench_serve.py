"""specdec bench --serve: the trace driver on a fake engine and clock, the mlx-lm adapter and the
whole bench on tiny in-process models (no timing asserts)."""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict

import pytest
from rich.console import Console

from specdec_course.api.serving import BatchCosts, Emitted
from specdec_course.authoring import runs
from specdec_course.authoring.run_views import render_view
from specdec_course.bench import serve_engines
from specdec_course.bench.batch import target_greedy
from specdec_course.bench.serve import SATURATED, bench_serve, render, run_serve_bench
from specdec_course.bench.serve_costs import measure_batch_costs
from specdec_course.bench.serve_engines import MLX, MlxLmEngine, engine_roster
from specdec_course.bench.serve_plot import plot_speedup, plot_tradeoff
from specdec_course.bench.serve_trace import Request, make_trace, run_trace
from specdec_course.commands.cli import build_parser
from specdec_course.core import impl
from specdec_course.testing import tiny_llama, tiny_pair

PROMPTS = [[1, 2, 3, 4, 5], [7], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12]]


@pytest.fixture(autouse=True, scope="module")
def reference():
    """The bench computes its figures with specdec.servestats: the reference's."""
    before = impl.requested_impl()
    impl.activate("solutions")
    yield
    impl.activate(before)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def continuation(prompt: list[int], n: int) -> list[int]:
    return [(prompt[-1] + i + 1) % 50 for i in range(n)]


class FakeEngine:
    """``slots`` rows; each step admits waiting requests, then gives every live row ``chunk``
    tokens of its continuation and costs ``step_s`` on the fake clock."""

    def __init__(self, clock: FakeClock, *, slots: int = 2, chunk: int = 2, step_s: float = 0.1):
        self.clock, self.slots, self.chunk, self.step_s = clock, slots, chunk, step_s
        self.waiting: list[list] = []
        self.live: list[list] = []
        self.next_id = 0

    def submit(self, prompt, max_tokens=100):
        self.waiting.append([self.next_id, continuation(prompt, max_tokens), 0])
        self.next_id += 1
        return self.next_id - 1

    def step(self):
        while self.waiting and len(self.live) < self.slots:
            self.live.append(self.waiting.pop(0))
        self.clock.t += self.step_s
        out = []
        for row in self.live:
            rid, want, done = row
            new = want[done : done + self.chunk]
            row[2] += len(new)
            finished = row[2] == len(want)
            out.append(Emitted(rid, new, finished, "length" if finished else None))
        self.live = [r for r in self.live if r[2] < len(r[1])]
        return out

    def has_work(self):
        return bool(self.waiting or self.live)


def _fake(clock, **kw):
    return lambda: FakeEngine(clock, **kw)


def test_the_driver_measures_a_fake_engine_by_hand():
    # slots 2, 2 tokens per step, 0.1 s per step; 3 requests of 4 tokens at 0, 0, 0.05 s.
    # step 1 (ends 0.1): r0, r1 get 2 tokens; r2 arrived during it and waits for a slot.
    # step 2 (0.2): r0, r1 finish. steps 3, 4 (0.3, 0.4): r2's two chunks.
    # TTFT 0.1, 0.1, 0.3 - 0.05 = 0.25 -> p50 0.1, p99 0.1 + 0.98 * 0.15 = 0.247.
    # ITL: every second chunk is 2 tokens 0.1 s later -> 0.05 s each. 12 tokens / 0.4 s = 30.
    clock = FakeClock()
    trace = make_trace([[3], [5], [8]], [0.0, 0.0, 0.05], 4)
    reference = [continuation(r.prompt, 4) for r in trace]
    res = run_trace(_fake(clock), trace, reference=reference, clock=clock, sleep=clock.sleep)
    f = res.figures
    assert res.steps == 4 and res.elapsed_s == pytest.approx(0.4) and res.mismatched == 0
    assert [x.ttft for x in res.latencies] == pytest.approx([0.1, 0.1, 0.25]), (
        "TTFT counts from the request's scheduled arrival, including its wait for a slot"
    )
    assert (f.throughput, f.ttft_p50, f.ttft_p99, f.itl_p50, f.itl_p99) == pytest.approx(
        (30.0, 0.1, 0.247, 0.05, 0.05)
    )
    assert res.tokens == reference and clock.slept == []


def test_an_idle_engine_waits_for_the_next_arrival():
    # r0 at 0 takes two steps (done at 0.2); the driver sleeps 0.8 s until r1 arrives at 1.0.
    clock = FakeClock()
    trace = [Request(1.0, [4], 4), Request(0.0, [2], 4)]  # any order
    res = run_trace(_fake(clock), trace, clock=clock, sleep=clock.sleep)
    assert clock.slept == pytest.approx([0.8]) and res.elapsed_s == pytest.approx(1.2)
    assert [x.ttft for x in res.latencies] == pytest.approx([0.1, 0.1])
    assert res.mismatched is None


def test_wrong_tokens_are_counted():
    clock = FakeClock()
    trace = make_trace([[3], [5]], [0.0, 0.0], 4)
    reference = [continuation([3], 4), [0, 0, 0, 0]]
    res = run_trace(_fake(clock), trace, reference=reference, clock=clock, sleep=clock.sleep)
    assert res.mismatched == 1


def test_an_engine_that_drops_a_request_is_an_error():
    clock = FakeClock()

    class Forgetful(FakeEngine):
        def step(self):
            out = super().step()
            return [e for e in out if e.request_id != 1]

    with pytest.raises(RuntimeError, match="never finished"):
        run_trace(lambda: Forgetful(clock), make_trace([[3], [5]], [0.0, 0.0], 4), clock=clock)


def test_the_mlx_lm_adapter_is_single_sequence_greedy():
    target = tiny_llama(0)
    want = target_greedy(target, PROMPTS, 6)
    engine = MlxLmEngine(target, slots=2)
    ids = [engine.submit(p, 6) for p in PROMPTS] + [engine.submit([3], 0)]
    got: dict[int, list[int]] = {i: [] for i in ids}
    reasons = {}
    while engine.has_work():
        for e in engine.step():
            assert len(e.tokens) <= 1, "mlx-lm gives one token per request per step"
            got[e.request_id] += e.tokens
            if e.finished:
                reasons[e.request_id] = e.finish_reason
    assert [got[i] for i in ids[:3]] == want and got[ids[3]] == []
    assert reasons == dict.fromkeys(ids, "length")
    eos = want[0][2]  # the third token of the first prompt's continuation ends it
    engine = MlxLmEngine(target, slots=2, eos_token_id=eos)
    rid = engine.submit(PROMPTS[0], 6)
    records = []
    while engine.has_work():
        records += engine.step()
    assert [t for e in records for t in e.tokens] == want[0][:3]
    assert records[-1] == Emitted(rid, [eos], True, "eos")


def test_the_cost_table_has_every_batch_and_k():
    draft, target = tiny_pair(0)
    costs = measure_batch_costs(draft, target, max_rows=3, k_max=2, context=8, repeats=1)
    assert isinstance(costs, BatchCosts) and (costs.max_rows, costs.k_max) == (3, 2)
    assert all(costs.draft(b) > 0 and costs.verify_pass(b, 2) > 0 for b in (1, 2, 3))
    with pytest.raises(ValueError, match="max_rows"):
        measure_batch_costs(draft, target, max_rows=0, k_max=2)


def test_the_roster_names_every_engine_and_skips_the_unwritten(monkeypatch):
    import specdec_course.bench.serve_engines as eng

    draft, target = tiny_pair(0)
    roster = engine_roster(draft, target, slots=2, ks=[1, 3], costs=lambda: None)
    assert list(roster) == [
        MLX,
        "continuous target-only",
        "continuous spec K=1",
        "continuous spec K=3",
        "per-row adaptive",
    ]

    def missing(*args, **kwargs):
        raise NotImplementedError("Week 5 Day 2 task `SpeculativeEngine` is not written yet")

    monkeypatch.setattr(eng, "_speculative", missing)
    roster = engine_roster(draft, target, slots=2, ks=[2], costs=lambda: None)
    with pytest.raises(NotImplementedError):
        roster["continuous spec K=2"]()
    assert isinstance(roster[MLX](), MlxLmEngine)


@pytest.fixture(scope="module")
def report():
    draft, target = tiny_pair(0)
    return run_serve_bench(
        draft, target, PROMPTS, requests=4, max_tokens=5, slots=2, ks=[1], loads=[0.5],
        seed=0, cost_repeats=1, impl="solutions", log=lambda m: None,
    )  # fmt: skip


def test_the_bench_runs_every_load_and_checks_the_tokens(report):
    assert report.loads == [SATURATED, "0.50x"]
    assert report.row(MLX, SATURATED) and report.row(MLX, "0.50x"), "mlx-lm's engine always runs"
    assert report.saturated_rate > 0
    assert report.rates["0.50x"] == pytest.approx(0.5 * report.saturated_rate)
    for r in report.rows:
        assert r.tokens == 4 * 5 and r.requests == 4 and r.throughput > 0, r
        assert r.mismatched == 0, f"{r.engine} under {r.load}: tokens differ from greedy"
    ran = {r.engine for r in report.rows}
    assert len(ran) + len(report.skipped) == 4, (ran, report.skipped)


def test_render_plots_json_and_the_recorded_run_views(report, tmp_path):
    out = io.StringIO()
    render(Console(file=out, width=160), report)
    text = out.getvalue()
    assert "BLAS:" in text and "saturated queue" in text and "load 0.50x" in text and MLX in text
    assert plot_tradeoff(report, tmp_path / "t.png").stat().st_size > 1000
    assert plot_speedup(report, tmp_path / "s.png").stat().st_size > 1000
    result = json.loads(json.dumps(asdict(report)))
    run = {
        "name": "w5-serve",
        "mode": "serve",
        "command": "uv run specdec bench --serve --quick",
        "commit": "0123456789abcdef",
        "dirty_files": [],
        "recorded_at": "2027-01-01 00:00 UTC",
        "seed": 0,
        "load_average_before": [0.1],
        "load_average_after": [0.2],
        "cpus": 2,
        "blas": result["blas"],
        "device": result["device"],
        "result": result,
    }
    table = render_view(run, "table", "saturated")
    assert table.startswith("| engine |") and MLX in table and "w5-serve" in table
    mlx = report.row(MLX, SATURATED)
    assert render_view(run, "value", f"saturated; {MLX}; tok/s") == f"{mlx.throughput:.1f}"
    assert render_view(run, "ratio", f"0.50x; {MLX}; {MLX}; itl-p50") == "1.00x"
    assert render_view(run, "value", "rate; 0.50x") == f"{report.rates['0.50x']:.2f}"
    assert runs.bench_mode(["--serve", "--quick"]) == "serve"
    assert runs.RESULT_FILES["serve"] == "serve.json"


def test_the_command_line(monkeypatch, tmp_path):
    from specdec_course.bench import serve
    from specdec_course.commands import cli

    args = build_parser().parse_args(["bench", "--serve", "--quick", "--loads", "0.2", "0.7"])
    assert args.serve and args.quick and args.loads == [0.2, 0.7] and args.slots == 8
    assert build_parser().parse_args(["bench"]).serve is False
    seen = {}
    monkeypatch.setattr(cli, "_fast_blas", lambda: None)
    monkeypatch.setattr(serve, "bench_serve", lambda console, **kw: seen.update(kw) or 0)
    assert args.func(args) == 0 and seen["quick"] and seen["loads"] == [0.2, 0.7]
    # --k 0 alone leaves nothing speculative to run: refused before any model loads.
    console = Console(file=io.StringIO())
    assert bench_serve(
        console, draft=None, target=None, prompts_file=None, requests=None, max_tokens=None,
        slots=2, ks=[0], loads=None, rates=None, seed=0, quick=True, out=tmp_path, impl=None,
    ) == 2  # fmt: skip
    assert not math.isnan(serve.LOADS[0]) and serve_engines.spec_name(2) == "continuous spec K=2"
