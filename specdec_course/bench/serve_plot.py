"""The ``--serve`` plots: throughput against ITL per engine; each engine against mlx-lm, per load.

May import: ``core``, ``api``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from specdec_course.api.plotting import new_figure, save_figure
from specdec_course.bench.serve_engines import MLX as BASELINE


def _engines(report: Any) -> list[str]:
    return list(dict.fromkeys(r.engine for r in report.rows))


def _loads_light_first(report: Any) -> list[str]:
    """Poisson loads by rate (lightest first), then the saturated queue."""
    poisson = sorted((x for x in report.loads if x in report.rates), key=report.rates.get)
    return poisson + [x for x in report.loads if x not in report.rates]


def plot_tradeoff(report: Any, path: Path) -> Path:
    """Throughput (tok/s) against ITL p50 (ms): one line per engine, one point per load."""
    fig, (ax,) = new_figure(width=6.4, height=4.4)
    loads = _loads_light_first(report)
    for i, engine in enumerate(_engines(report)):  # C0, C1, ...: one colour per engine in both
        rows = [report.row(engine, load) for load in loads]
        rows = [r for r in rows if r is not None and not math.isnan(r.itl_p50)]
        xs = [1e3 * r.itl_p50 for r in rows]
        ys = [r.throughput for r in rows]
        (line,) = ax.plot(xs, ys, marker="o", label=engine, color=f"C{i}")
        for r, x, y in zip(rows, xs, ys, strict=True):
            ax.annotate(
                r.load,
                (x, y),
                textcoords="offset points",
                xytext=(4, 3),
                fontsize=7,
                color=line.get_color(),
            )
    ax.set(xlabel="ITL p50 (ms per token)", ylabel="throughput (tokens/s)")
    ax.set_title("throughput against inter-token latency, per load", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle(f"{report.blas.split(' (')[0]}, {report.device}", fontsize=8)
    return save_figure(fig, path)


def plot_speedup(report: Any, path: Path) -> Path:
    """Per load: each engine's throughput and ITL p50 against mlx-lm's ``BatchGenerator``."""
    fig, axes = new_figure(1, 2, width=10.0, height=4.0)
    loads = _loads_light_first(report)
    xs = list(range(len(loads)))
    for i, engine in enumerate(_engines(report)):
        if engine == BASELINE:
            continue
        tput, itl = [], []
        for load in loads:
            r, base = report.row(engine, load), report.row(BASELINE, load)
            ok = r is not None and base is not None
            tput.append(r.throughput / base.throughput if ok else math.nan)
            itl.append(base.itl_p50 / r.itl_p50 if ok and r.itl_p50 > 0 else math.nan)
        axes[0].plot(xs, tput, marker="o", label=engine, color=f"C{i}")
        axes[1].plot(xs, itl, marker="o", label=engine, color=f"C{i}")
    titles = ("throughput / mlx-lm's", "mlx-lm's ITL p50 / this engine's")
    for ax, title in zip(axes, titles, strict=True):
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(xs, loads)
        ax.set(xlabel="load (x the saturated request rate)", ylabel="speedup vs BatchGenerator")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(f"{report.blas.split(' (')[0]}, {report.device}", fontsize=8)
    return save_figure(fig, path)
