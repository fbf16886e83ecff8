"""The book's measured figure: speedup against α̂ from the recorded K sweeps in ``book/runs``.

Every sweep-mode run whose name starts with ``w2-`` contributes its rows with K >= 1 (the
bench's ``alpha`` column is the estimate α̂ = A / (A + R) of Week 2 Day 2). The runs differ in
temperature and prompt set, so their α̂ differ; the theory curves
``S(α, K, c, v(K))`` use the median of the runs' measured ``c`` and ``v(K)``. The figure is
drawn by :func:`.figures.make_figures`; this module only reads JSON and the reference theory.

May import: ``core``, ``api`` (and :mod:`.runs`, which reads JSON only: no MLX here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from specdec_course.api.plotting import new_figure, save_figure
from specdec_course.authoring.runs import RUNS_DIR, load_runs

#: The lookaheads whose theory curves are drawn (every K the scatter runs measured).
CURVE_KS = (1, 2, 4, 8)
MARKERS = "osD^vP*X"


def sweep_points(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per measured K >= 1 of every ``w2-*`` sweep run, with its run's label.

    Returns:
        Dicts with ``run``, ``label`` (temperature and prompt set), ``k``, ``alpha`` (α̂),
        ``speedup`` (measured, over the same run's target-only), ``c`` and ``v`` (that K's).
    """
    points = []
    for name, run in sorted(runs.items()):
        if run.get("mode") != "sweep" or not name.startswith("w2-"):
            continue
        result = run["result"]
        settings = result["settings"]
        prompts = Path(result["models"]["prompts"]).stem
        prompts = prompts.replace("_prompts", "").replace("_", " ")
        label = f"T = {settings['temperature']:g}, {prompts} prompts"
        for row in result["rows"]:
            if row["group"] == "sweep" and row["k"] and row["alpha"] is not None:
                points.append({"run": name, "label": label, "k": row["k"],
                               "alpha": row["alpha"], "speedup": row["speedup"],
                               "c": row["c"], "v": row["v"]})
    return points


def measured_scatter(theory: Any, path: Path, runs_dir: Path = RUNS_DIR) -> Path:
    """Measured speedup against measured α̂, theory curves over it, the sweet spot named."""
    points = sweep_points(load_runs(runs_dir))
    if not points:
        raise ValueError(f"no w2-* sweep runs in {runs_dir}: record one (see runs.py)")
    c = float(np.median([p["c"] for p in points]))
    fig, (ax,) = new_figure(1, 1, width=7.0, height=4.4)
    alphas = np.linspace(0.3, 1.0, 141)
    colours: dict[int, str] = {}
    curves: dict[int, Any] = {}
    for k in CURVE_KS:
        vs = [p["v"] for p in points if p["k"] == k]
        if not vs:
            continue
        v = float(np.median(vs))
        curves[k] = lambda a, k=k, v=v: theory.speedup(float(a), k, c, v)
        (line,) = ax.plot(alphas, [curves[k](a) for a in alphas],
                          lw=1.2, label=f"theory K = {k} (c = {c:.2f}, v = {v:.2f})")
        colours[k] = line.get_color()
    labels = sorted({p["label"] for p in points})
    for marker, label in zip(MARKERS, labels, strict=False):
        mine = [p for p in points if p["label"] == label]
        # Colour = K (as its theory curve), marker = run: the legend shows the marker in grey.
        ax.scatter([p["alpha"] for p in mine], [p["speedup"] for p in mine], marker=marker, s=36,
                   c=[colours.get(p["k"], "grey") for p in mine], edgecolors="k", linewidths=0.5,
                   zorder=3)
        ax.scatter([], [], marker=marker, s=36, c="lightgrey", edgecolors="k", linewidths=0.5,
                   label=f"measured, {label}")
        for p in mine:
            ax.annotate(f"K={p['k']}", (p["alpha"], p["speedup"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    # The sweet spot: past the alpha where the longest shared draft's curve overtakes the
    # shortest one's, longer drafts pay; named by how many runs there were fastest at it.
    # Only the Ks every run measured: a curve no run in the band has tried names nothing.
    measured = [{p["k"] for p in points if p["run"] == run} for run in {p["run"] for p in points}]
    shared = sorted(set.intersection(*measured) & set(curves))
    k_lo, k_hi = shared[0], shared[-1]
    lo, hi = 0.3, 1.0  # S(K_hi) - S(K_lo) < 0 at lo, > 0 at hi for these costs
    while hi - lo > 1e-6:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if curves[k_hi](mid) < curves[k_lo](mid) else (lo, mid)
    cross = hi
    runs_here = [run for run in sorted({p["run"] for p in points})
                 if all(p["alpha"] > cross for p in points if p["run"] == run)]
    best_here = [max((p for p in points if p["run"] == run), key=lambda p: p["speedup"])["k"]
                 for run in runs_here]
    ax.axvspan(cross, 1.0, color="#4caf50", alpha=0.12, zorder=0)
    top = max(p["speedup"] for p in points)
    ax.text(cross + 0.01, 0.6, f"sweet spot: α̂ > {cross:.2f}, where K = {k_hi} beats K = {k_lo}\n"
            f"(theory); {best_here.count(k_hi)} of {len(runs_here)} runs here were fastest "
            f"at K = {k_hi}", fontsize=7, color="#2e7d32")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set(xlabel="measured α̂ = A / (A + R)", ylabel="measured speedup over target-only",
           xlim=(0.3, 1.0), ylim=(0.5, max(3.0, top + 0.5)),
           title=f"Real runs ({len({p['run'] for p in points})} recorded sweeps, "
                 "book/runs/w2-*.json) vs theory")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left")
    return save_figure(fig, path)
