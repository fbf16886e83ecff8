"""The ``--batch`` plot: speedup against B per K, over sequential runs and batched target-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(report: Any, path: Path) -> Path:
    """Speedup vs B per K: over sequential runs and over batched target-only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for k in report.ks:
        vs_seq, vs_target = [], []
        for b in report.batches:
            r = report.row(f"batched spec K={k}", b)
            seq = report.row(f"sequential spec K={k}", b)
            vs_seq.append(r.tokens_per_s / seq.tokens_per_s)
            vs_target.append(r.tokens_per_s / report.fastest_target(b))
        axes[0].plot(report.batches, vs_seq, marker="o", label=f"K={k}")
        axes[1].plot(report.batches, vs_target, marker="o", label=f"K={k}")
    axes[1].axhline(1.0, color="grey", linestyle="--", linewidth=1)
    axes[0].set_title("batched spec / B sequential spec runs")
    axes[1].set_title("batched spec / batched target-only (crossover at 1)")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(report.batches, [str(b) for b in report.batches])
        ax.set_xlabel("batch size B")
        ax.set_ylabel("speedup")
        ax.legend()
    fig.suptitle(f"{report.blas.split(' (')[0]}, {report.device}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
