"""specdec bench: the measuring machinery on tiny in-process models."""

import csv
import dataclasses
import io
import json
import math

import pytest
from mlx_lm.models.cache import make_prompt_cache
from rich.console import Console

import mlx.core as mx

from specdec_course.bench.costs import (
    StepCosts,
    combine_costs,
    measure_costs,
    realistic_context,
    time_forward,
)
from specdec_course.bench.run import run_and_report
from specdec_course.bench.settings import (
    DEFAULT_KS,
    DEFAULT_OUT,
    SIM_WORKLOADS,
    BenchSettings,
    load_impl,
)
from specdec_course.bench.sweep import rotated
from specdec_course.core import impl
from specdec_course.commands.cli import build_parser
from specdec_course.bench.mlxlm import alpha_mle, mlx_lm_rounds
from specdec_course.core.tasks import stub_message
from specdec_course.testing import tiny_pair

PROMPTS = [[1, 2, 3, 4, 5], [7, 8, 9]]


@pytest.fixture(scope="module")
def reference():
    """The solutions implementation, restoring whatever was active before."""
    before = impl.requested_impl()
    yield load_impl("solutions")
    impl.activate(before)


@pytest.fixture(scope="module")
def pair():
    return tiny_pair(0)


def settings(**kw):
    base = dict(ks=(1, 3), max_tokens=8, repeats=1, cost_repeats=3, warmup_tokens=4, compare_mlx_lm=False,
                sim_tokens=30, sim_seeds=1)
    return BenchSettings(**{**base, **kw})


def run(reference_impl, pair, tmp_path, **kw):
    out = io.StringIO()
    console = Console(file=out, width=200)
    code = run_and_report(console, *pair, PROMPTS, settings(**kw), reference_impl, tmp_path)
    return code, out.getvalue()


def test_bench_writes_csv_json_and_plots(reference, pair, tmp_path):
    code, text = run(reference, pair, tmp_path, compare_mlx_lm=True, adaptive=True)
    assert code == 0, text
    assert "BLAS:" in text and "identical output" in text

    rows = list(csv.DictReader((tmp_path / "bench.csv").open()))
    labels = [r["label"] for r in rows]
    assert labels[:3] == ["target only", "K=1", "K=3"], labels
    assert "adaptive" in labels and "mlx-lm target only" in labels
    assert any(lab.startswith("mlx-lm K=") for lab in labels)
    by = {r["label"]: r for r in rows}
    # Plain decoding: one target call per generated token (prefill included).
    assert float(by["target only"]["target_calls"]) == 8.0
    for label in ("K=1", "K=3"):
        assert by[label]["identical"] == "True"
        assert float(by[label]["target_calls"]) <= 8.0
        assert float(by[label]["predicted_speedup"]) > 0

    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["blas"] and data["machine"]["cpu_count"] >= 1
    assert data["settings"]["ks"] == [1, 3] and data["settings"]["max_tokens"] == 8
    assert data["identical_output"] is True and data["mismatches"] == []
    assert set(data["costs"]["v"]) >= {"1", "3"} and data["costs"]["c"] > 0
    assert len(data["costs"]["sessions"]) == 2, "costs are measured before the sweep and after each repeat"
    assert len(data["simulated_adaptive"]) == len(SIM_WORKLOADS)

    for name in ("speedup_vs_k.png", "target_calls_vs_k.png", "measured_vs_predicted.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_a_lossy_decoder_fails_loudly(reference, pair, tmp_path):
    class Broken(reference.SpeculativeDecoder):
        def generate(self, prompt_tokens, max_tokens, *, key=None):
            result = super().generate(prompt_tokens, max_tokens, key=key)
            if self.lookahead == 3:  # corrupt one configuration only
                result.tokens[-1] = (result.tokens[-1] + 1) % 64
            return result

    broken = dataclasses.replace(reference, SpeculativeDecoder=Broken)
    code, text = run(broken, pair, tmp_path)
    assert code == 1, "a greedy output that differs from the baseline must give a non-zero exit"
    assert "FAIL" in text and "K=3" in text
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["identical_output"] is False
    assert {m["label"] for m in data["mismatches"]} == {"K=3"}
    assert all(m["position"] == 7 for m in data["mismatches"]), "the last of 8 tokens was changed"
    by = {r["label"]: r for r in csv.DictReader((tmp_path / "bench.csv").open())}
    assert by["K=1"]["identical"] == "True" and by["K=3"]["identical"] == "False"


def test_an_unwritten_task_is_a_friendly_message(reference, pair, tmp_path):
    def stub(*args, **kwargs):
        raise NotImplementedError(stub_message("metrics.derive_figures"))

    code, text = run(dataclasses.replace(reference, derive_figures=stub, name="src"), pair, tmp_path)
    assert code == 1
    assert "Week 2 Day 2 task `derive_figures` is not written yet" in text
    assert "Traceback" not in text and not (tmp_path / "bench.csv").exists()


def test_measure_costs_keeps_the_cache_length(pair):
    draft, target = pair
    cache = make_prompt_cache(target)
    target(mx.array([[1, 2, 3]]), cache=cache)
    assert time_forward(target, cache, [4, 5]) > 0
    assert cache[0].offset == 3, "time_forward must trim the timed tokens off again"

    costs = measure_costs(draft, target, realistic_context([1, 2, 3], 10), [0, 2], repeats=2)
    assert costs.context_len == 3 + 5
    assert costs.target_step_s > 0 and costs.draft_step_s > 0
    assert set(costs.verify_s) == {0, 2} and costs.v(0) == 1.0
    assert math.isfinite(costs.c())


def test_combine_costs_takes_ratios_within_each_session():
    # A quiet and a busy session: everything twice as slow, so the ratios agree.
    quiet = StepCosts(10, 0.010, 0.002, {0: 0.010, 2: 0.012}, 5)
    busy = StepCosts(10, 0.020, 0.004, {0: 0.020, 2: 0.024}, 5)
    odd = StepCosts(10, 0.012, 0.006, {0: 0.012, 2: 0.024}, 5)
    both = combine_costs([quiet, busy, odd])
    assert both.c() == pytest.approx(0.2) and both.v(2) == pytest.approx(1.2)  # medians of 0.2/0.2/0.5, 1.2/1.2/2
    assert both.target_step_s == pytest.approx(0.012) and both.samples == 15


def test_rotation_gives_every_configuration_every_slot():
    items = ["base", "K1", "K2"]
    firsts = {rotated(items, s)[0] for s in range(3)}
    assert firsts == set(items)
    assert rotated(items, 4) == ["K1", "K2", "base"]


@pytest.mark.parametrize("flags,k,max_tokens,accepted,drafted", [
    # round 1: 2 accepted + target token; round 2: 0 accepted + target token; round 3: cut by the budget
    ([True, True, False, False, True], 2, 5, [2, 0, 1], [2, 2, 1]),
    # full acceptance ends exactly at the budget: no target token
    ([True, True, True], 3, 3, [3], [3]),
    ([False, False], 4, 2, [0, 0], [2, 1]),
])
def test_mlx_lm_rounds(flags, k, max_tokens, accepted, drafted):
    assert mlx_lm_rounds(flags, k, max_tokens) == (accepted, drafted), (
        "replaying mlx-lm's from_draft flags gave the wrong (accepted, drafted) per round")


def test_alpha_mle_counts_only_examined_tokens():
    # Rounds: 2 of 4 accepted (1 rejection), 4 of 4 (no rejection), 0 of 4 (1 rejection):
    # 6 accepted out of 8 examined, not 6 of 12 drafted.
    assert alpha_mle([2, 4, 0], [4, 4, 4]) == pytest.approx(6 / 8), (
        "alpha must ignore the draft tokens after a rejection, which the verifier never examined")
    assert alpha_mle([3], [3]) == 1.0
    assert math.isnan(alpha_mle([], []))


def test_cli_options():
    args = build_parser().parse_args(["bench", "--k", "0", "2", "--no-compare-mlx-lm", "--adaptive",
                                      "--impl", "solutions"])
    assert args.k == [0, 2] and args.compare_mlx_lm is False and args.adaptive is True
    args = build_parser().parse_args(["bench"])
    # --k and --max-tokens stay None when not typed: each mode (sweep, --batch, --week4) then
    # applies its own default, and a typed value equal to a default is still kept.
    assert args.k is None and args.compare_mlx_lm is True and args.max_tokens is None
    assert args.out == str(DEFAULT_OUT)


def test_sweep_mode_applies_its_defaults(monkeypatch):
    """Bug caught: the sweep run with K None or 0 tokens when --k / --max-tokens are not typed."""
    from specdec_course.bench import run
    from specdec_course.commands import cli, demo

    seen = {}
    monkeypatch.setattr(demo, "preflight", lambda console, impl: None)
    monkeypatch.setattr(cli, "_fast_blas", lambda: None)
    monkeypatch.setattr(run, "bench", lambda console, **kw: seen.update(kw) or 0)
    args = build_parser().parse_args(["bench"])
    assert args.func(args) == 0
    assert seen["ks"] == list(DEFAULT_KS) and seen["max_tokens"] == 128, seen
