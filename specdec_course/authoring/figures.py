"""The book's figures, drawn from the reference implementation.

``uv run python -m specdec_course.authoring.figures`` regenerates every PNG under
``book/src/images``; ``python -m specdec_course.authoring.figures OUT_DIR`` writes them
under ``OUT_DIR`` instead (the tool test does this). The curves come from
``solutions/specdec/theory.py`` and the traces from
``solutions/specdec/simulator.py``, the two Day 1 student pictures from
``solutions/specdec/pictures.py`` (drawn by the reference's own drawing functions), and the
measured scatter of Week 2 Day 2 from the recorded runs in ``book/runs``
(:mod:`.figures_runs`), so the pictures always show what the reference computes or measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from specdec_course.api.plotting import save_figure  # noqa: E402
from specdec_course.authoring.figures_runs import measured_scatter  # noqa: E402
from specdec_course.core.impl import REPO_ROOT, activate  # noqa: E402

IMAGES = REPO_ROOT / "book" / "src" / "images"
DPI = 150
#: Default costs for the pictures: a draft 10x cheaper than the target and a
#: verification pass as dear as one target step.
C_DEFAULT = 0.1
V_DEFAULT = 1.0

# One colour per trace event, plus "not drafted / discarded".
EVENT_COLOURS = {
    "accepted": "#4caf50",
    "rejected": "#e53935",
    "correction": "#ff9800",
    "bonus": "#1e88e5",
    "discarded": "#e0e0e0",
    "empty": "#ffffff",
}


def _reference():
    """The reference ``theory``, ``simulator``, ``adaptive`` and ``pictures`` modules."""
    activate("solutions")
    from specdec import adaptive, pictures, simulator, theory

    return theory, simulator, adaptive, pictures


def _save(fig: plt.Figure, path: Path, *, palette: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette:
        # A 256-colour palette: a grid of anti-aliased numbers is 3x smaller so, and the
        # figure has far fewer colours than that anyway.
        from io import BytesIO

        from PIL import Image

        buffer = BytesIO()
        fig.savefig(buffer, dpi=DPI, bbox_inches="tight")
        image = Image.open(buffer).convert("RGB").quantize(256)
        image.save(path, dpi=(DPI, DPI), optimize=True)
    else:
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def speedup_vs_alpha(theory, path: Path) -> Path:
    """Speedup against alpha for several K (c = 0.1, v = 1)."""
    alphas = np.linspace(0, 1, 201)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for k in (1, 2, 4, 8, 16):
        ax.plot(alphas, [theory.speedup(float(a), k, C_DEFAULT, V_DEFAULT) for a in alphas], label=f"K = {k}")
    ax.axhline(1, color="k", lw=0.8, ls="--")
    ax.text(0.01, 1.05, "break-even (S = 1)", fontsize=8)
    ax.set(xlabel="acceptance rate α", ylabel="predicted speedup S",
           title=f"Speedup vs acceptance rate (c = {C_DEFAULT}, v = {V_DEFAULT})", xlim=(0, 1))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def speedup_vs_k(theory, path: Path) -> Path:
    """Speedup against K for several alpha, with each curve's optimum marked."""
    ks = np.arange(0, 21)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for alpha in (0.5, 0.7, 0.8, 0.9, 0.95):
        values = [theory.speedup(alpha, int(k), C_DEFAULT, V_DEFAULT) for k in ks]
        (line,) = ax.plot(ks, values, marker="o", ms=3, label=f"α = {alpha}")
        best = theory.optimal_lookahead(alpha, C_DEFAULT, V_DEFAULT, k_max=20)
        ax.plot([best], [theory.speedup(alpha, best, C_DEFAULT, V_DEFAULT)], marker="*", ms=12,
                color=line.get_color(), markeredgecolor="k")
    ax.axhline(1, color="k", lw=0.8, ls="--")
    ax.set(xlabel="lookahead K", ylabel="predicted speedup S",
           title=f"Speedup vs lookahead (c = {C_DEFAULT}; ★ = optimal K)", xlim=(0, 20))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def speedup_vs_cost(theory, path: Path) -> Path:
    """Speedup against the draft/target cost ratio c: fixed K = 4 vs the optimal K."""
    cs = np.linspace(0, 1, 101)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for alpha in (0.6, 0.8, 0.9):
        fixed = [theory.speedup(alpha, 4, float(c), V_DEFAULT) for c in cs]
        # K = 0 (do not speculate) is plain decoding: speedup 1.
        best = [max(1.0, theory.speedup(alpha, max(1, theory.optimal_lookahead(alpha, float(c), V_DEFAULT,
                                                                              k_max=16)),
                                        float(c), V_DEFAULT)) for c in cs]
        (line,) = ax.plot(cs, best, label=f"α = {alpha}, best K")
        ax.plot(cs, fixed, ls="--", color=line.get_color(), label=f"α = {alpha}, K = 4")
    ax.axhline(1, color="k", lw=0.8, ls=":")
    ax.set(xlabel="draft/target cost ratio c", ylabel="predicted speedup S",
           title="Speedup vs draft cost (v = 1; best K searched up to 16)", xlim=(0, 1), ylim=(0, 6))
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def heatmap(theory, path: Path) -> Path:
    """Speedup over (agreement, K) with the optimal-K curve and the S = 1 contour."""
    alphas = np.linspace(0.0, 0.99, 100)
    ks = np.arange(1, 17)
    grid = np.array([[theory.speedup(float(a), int(k), C_DEFAULT, V_DEFAULT) for a in alphas] for k in ks])
    fig, ax = plt.subplots(figsize=(6.4, 4))
    mesh = ax.pcolormesh(alphas, ks, grid, shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="predicted speedup S")
    ax.contour(alphas, ks, grid, levels=[1.0], colors="white", linewidths=1.2, linestyles="--")
    best = [theory.optimal_lookahead(float(a), C_DEFAULT, V_DEFAULT, k_max=16) for a in alphas]
    ax.step(alphas, np.where(np.array(best) > 0, best, np.nan), where="mid", color="red", lw=2, label="optimal K")
    ax.set(xlabel="agreement α", ylabel="lookahead K",
           title=f"Speedup over (α, K), c = {C_DEFAULT} (white dashes: S = 1)")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def acceptance_scenarios(pictures, path: Path) -> Path:
    """The acceptance rule on one target and three drafts (the Day 1 task's own drawing)."""
    panels = {name: pictures.overlap_bars(pictures.TARGET, q)
              for name, q in pictures.SCENARIOS.items()}
    return save_figure(pictures.draw_acceptance(panels), path, dpi=DPI)


def optimal_k(pictures, path: Path) -> Path:
    """Optimal K and its speedup against alpha for several c (the Day 1 task's own drawing)."""
    curves = pictures.optimal_k_curves(np.linspace(0.0, 0.98, 99), (0.02, 0.05, 0.1, 0.2, 0.4),
                                       V_DEFAULT, k_max=16)
    return save_figure(pictures.draw_optimal_k(curves), path, dpi=DPI)


#: The simulated grid: agreements (rows) x lookaheads (columns), tokens per cell.
SIM_ALPHAS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
SIM_KS = (1, 2, 3, 4, 6, 8, 12)
SIM_TOKENS = 1000


def simulated_heatmaps(simulator, path: Path, *, seed: int = 0) -> Path:
    """Simulated speedup and accepted/drafted over (agreement, K), c = 0.1, v = 1."""
    speed = np.zeros((len(SIM_ALPHAS), len(SIM_KS)))
    ratio = np.zeros_like(speed)
    for i, alpha in enumerate(SIM_ALPHAS):
        for j, k in enumerate(SIM_KS):
            r = simulator.simulate_generation(SIM_TOKENS, agreement=alpha, lookahead=k,
                                              target_ms=10.0, draft_ms=10.0 * C_DEFAULT,
                                              seed=seed + 1000 * i + j)
            speed[i, j] = r.speedup
            ratio[i, j] = sum(r.accepted) / sum(r.lookaheads)
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 3.6))
    panels = ((speed, "simulated speedup", "RdYlGn", (0.5, 3.5), "{:.2f}x"),
              (ratio, "accepted / drafted", "Blues", (0.0, 1.0), "{:.2f}"))
    for ax, (grid, label, cmap, (lo, hi), fmt) in zip(axes, panels, strict=True):
        im = ax.imshow(grid, cmap=cmap, vmin=lo, vmax=hi, aspect="auto", origin="lower")
        for (i, j), value in np.ndenumerate(grid):
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(SIM_KS)), [str(k) for k in SIM_KS])
        ax.set_yticks(range(len(SIM_ALPHAS)), [f"{a:g}" for a in SIM_ALPHAS])
        ax.set(xlabel="lookahead K", ylabel="agreement α (asked of the simulator)", title=label)
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle(f"Simulator, {SIM_TOKENS} tokens per cell, c = {C_DEFAULT}, v = {V_DEFAULT}",
                 fontsize=10)
    return _save(fig, path, palette=True)


def break_even(theory, path: Path) -> Path:
    """Break-even alpha against K for several draft costs."""
    ks = np.arange(1, 17)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for c in (0.02, 0.05, 0.1, 0.2, 0.4):
        values = [theory.break_even_alpha(int(k), c, V_DEFAULT) for k in ks]
        ax.plot(ks, [v if np.isfinite(v) else np.nan for v in values], marker="o", ms=3, label=f"c = {c}")
    ax.set(xlabel="lookahead K", ylabel="break-even α", ylim=(0, 1), xlim=(1, 16),
           title="Speculation pays only above these lines (v = 1)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def trace_picture(simulator, path: Path, *, rounds: int = 14, k: int = 5, agreement: float = 0.75,
                  seed: int = 3) -> Path:
    """Rows = rounds, columns = positions 1..K+1, coloured by what happened there."""
    names = list(EVENT_COLOURS)
    result = simulator.simulate_generation(rounds * (k + 1), agreement=agreement, lookahead=k, seed=seed)
    trace = result.trace[:rounds]
    cells = np.full((len(trace), k + 1), names.index("empty"))
    for r, events in enumerate(trace):
        values = [e.value for e in events]
        n = values.count("accepted")
        cells[r, :n] = names.index("accepted")
        if values[-1] == "bonus":
            cells[r, n] = names.index("bonus")
        else:
            # The rejected draft and its replacement share a position; the
            # drafts after it were drafted (and paid for) but never checked.
            cells[r, n] = names.index("correction")
            cells[r, n + 1:k] = names.index("discarded")
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(trace) + 1.2))
    ax.imshow(cells, cmap=ListedColormap(list(EVENT_COLOURS.values())), vmin=0, vmax=len(names) - 1,
              aspect="auto")
    for r, events in enumerate(trace):
        if events[-1].value == "correction":
            n = len(events) - 2
            ax.text(n, r, "×", ha="center", va="center", fontsize=8)
        ax.text(k + 0.65, r, f"+{result.accepted[r] + 1}", va="center", fontsize=8)
    ax.set_xticks(range(k + 1), [f"{i + 1}" for i in range(k)] + ["K+1"])
    ax.set_yticks(range(len(trace)), [f"{r + 1}" for r in range(len(trace))], fontsize=7)
    ax.set(xlabel="position in the round", ylabel="round",
           title=f"{len(trace)} rounds, K = {k}, α = {agreement}: "
                 f"{sum(result.accepted[:rounds]) + len(trace)} tokens")
    ax.set_xticks(np.arange(-0.5, k + 1), minor=True)
    ax.set_yticks(np.arange(-0.5, len(trace)), minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=EVENT_COLOURS[n]) for n in
               ("accepted", "correction", "bonus", "discarded")]
    ax.legend(handles, ["accepted draft", "rejected → correction", "bonus", "drafted, discarded"],
              loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4,
              fontsize=7, frameon=False)
    return _save(fig, path)


def adaptive_regime_change(simulator, adaptive, path: Path, *, tokens: int = 1600, switch: int = 800,
                           c: float = 0.05) -> Path:
    """K chosen round by round by the adaptive rule and the HF heuristic when alpha drops."""
    from specdec_course.testing.baselines import HeuristicSpeculator

    def agreement(n: int) -> float:
        return 0.9 if n < switch else 0.4

    theory = sys.modules["specdec.theory"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, policy in (("AdaptiveSpeculator (cost-aware)", adaptive.AdaptiveSpeculator(draft_cost=c)),
                          ("HF heuristic (+2 / −1)", HeuristicSpeculator())):
        result = simulator.simulate_generation(tokens, agreement=agreement, adaptive=policy, target_ms=10.0,
                                               draft_ms=10.0 * c, seed=5)
        starts = np.concatenate([[0], np.cumsum(np.array(result.accepted) + 1)[:-1]])
        shown = starts < tokens - 20  # leave out the last rounds, cut short by max_tokens
        ax.step(starts[shown], np.array(result.lookaheads)[shown], where="post",
                label=f"{label}: speedup {result.speedup:.2f}")
    best = [theory.optimal_lookahead(a, c, k_max=16) for a in (0.9, 0.4)]
    ax.hlines(best, [0, switch], [switch, tokens], colors="k", linestyles="--", label="optimal K for the true α")
    ax.axvline(switch, color="grey", lw=0.8)
    ax.text(switch + 10, 15, "α: 0.9 → 0.4", fontsize=8)
    ax.set(xlabel="token position", ylabel="lookahead K", ylim=(0, 17), xlim=(0, tokens),
           title=f"Choosing K round by round (c = {c})")
    ax.legend(fontsize=7, loc="center right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def make_figures(out_dir: Path | None = None) -> list[Path]:
    """Draw every figure; returns the files written.

    Args:
        out_dir: the root to write under (``week2-01/*.png``,
            ``week2-03/*.png``); defaults to ``book/src/images``.
    """
    root = Path(out_dir) if out_dir is not None else IMAGES
    theory, simulator, adaptive, pictures = _reference()
    day1 = root / "week2-01"
    return [
        speedup_vs_alpha(theory, day1 / "speedup-vs-alpha.png"),
        speedup_vs_k(theory, day1 / "speedup-vs-k.png"),
        speedup_vs_cost(theory, day1 / "speedup-vs-cost.png"),
        heatmap(theory, day1 / "heatmap.png"),
        break_even(theory, day1 / "break-even.png"),
        trace_picture(simulator, day1 / "trace.png"),
        acceptance_scenarios(pictures, day1 / "acceptance-scenarios.png"),
        optimal_k(pictures, day1 / "optimal-k.png"),
        simulated_heatmaps(simulator, day1 / "simulated-heatmaps.png"),
        measured_scatter(theory, root / "week2-02" / "measured-speedup-vs-alpha.png"),
        adaptive_regime_change(simulator, adaptive, root / "week2-03" / "regime-change.png"),
    ]


if __name__ == "__main__":
    for written in make_figures(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(f"wrote {written} ({written.stat().st_size // 1024} KB)")
