"""Saving the bench report: bench.csv, bench.json and the plots."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from specdec_course.bench.report import BenchReport

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
