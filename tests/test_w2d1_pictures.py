"""Week 2 Day 1 - the day's pictures, drawn by you (book chapter week2-01-theory).

The tests check each picture's data exactly (hand-computed values, the Week 2 formulas), and
the drawings by their artists - how many axes, which bar heights, which line data, which
titles - never by their pixels.
"""

import math

import mlx.core as mx
import numpy as np
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from specdec.pictures import (
    BAR_LABELS,
    SCENARIOS,
    TARGET,
    OptimalKCurves,
    OverlapBars,
    draw_acceptance,
    draw_optimal_k,
    optimal_k_curves,
    overlap_bars,
)

pytestmark = [pytest.mark.w2d1, pytest.mark.timeout(20)]


def series_s(alpha: float, k: int, c: float, v: float = 1.0) -> float:
    """S = (1 + α + ... + α^K) / (K c + v), summed term by term."""
    return math.fsum(alpha**i for i in range(k + 1)) / (k * c + v)


def brute_force(alpha: float, c: float, v: float, k_max: int) -> tuple[int, float]:
    """The best K >= 1 and its speedup by exhaustive search; (0, 1.0) when none beats 1."""
    best_k, best_s = 0, 1.0
    for k in range(1, k_max + 1):
        s = series_s(alpha, k, c, v)
        if s > best_s * (1 + 1e-12):
            best_k, best_s = k, s
    return best_k, best_s


class TestOverlapBars:
    def test_three_token_example(self):
        # p = [0.5, 0.3, 0.2], q = [0.2, 0.3, 0.5]: min = [0.2, 0.3, 0.2], α = 0.7;
        # p/q = [2.5, 1, 0.4] -> accept [1, 1, 0.4]; p - q = [0.3, 0, -0.3] -> residual [1, 0, 0].
        got = overlap_bars(np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5]))
        assert isinstance(got, OverlapBars), f"return an OverlapBars, got {type(got).__name__}"
        np.testing.assert_allclose(got.overlap, [0.2, 0.3, 0.2], atol=1e-12, err_msg=(
            "overlap must be min(p, q) per token (not the product p * q, not max): "
            "[0.2, 0.3, 0.2] for p = [0.5, 0.3, 0.2], q = [0.2, 0.3, 0.5]"))
        assert got.alpha == pytest.approx(0.7, abs=1e-12), (
            f"alpha = {got.alpha}: the acceptance must be the sum of min(p, q) = 0.2 + 0.3 + 0.2 "
            "= 0.7, not a sum of the product p * q (0.29) nor of max(p, q)")
        np.testing.assert_allclose(got.accept, [1.0, 1.0, 0.4], atol=1e-12, err_msg=(
            "accept must be min(1, p / q) per token (the target's probability on top): "
            "[1, 1, 0.4] here; min(1, q / p) would give [0.4, 1, 1]"))
        np.testing.assert_allclose(got.residual, [1.0, 0.0, 0.0], atol=1e-12, err_msg=(
            "residual must be max(p - q, 0) normalised: [1, 0, 0] here (max(q - p, 0) would "
            "give [0, 0, 1]; forgetting to normalise gives [0.3, 0, 0])"))
        np.testing.assert_allclose(got.p, [0.5, 0.3, 0.2], err_msg="p must be the target as given")
        np.testing.assert_allclose(got.q, [0.2, 0.3, 0.5], err_msg="q must be the draft as given")

    def test_the_three_scenarios(self):
        # Hand sums of min(p, q) for the given scenarios.
        want = {"good draft": 0.96, "mediocre draft": 0.70, "bad draft": 0.40}
        for name, q in SCENARIOS.items():
            got = overlap_bars(TARGET, q)
            assert got.alpha == pytest.approx(want[name], abs=1e-12), (
                f"{name}: alpha = {got.alpha:.4f}, expected sum(min(p, q)) = {want[name]}")
            np.testing.assert_allclose(got.q * got.accept, got.overlap, atol=1e-12, err_msg=(
                f"{name}: q * min(1, p / q) must equal min(p, q) token by token"))

    def test_a_token_the_draft_never_proposes(self):
        p, q = np.array([0.6, 0.4, 0.0]), np.array([0.75, 0.0, 0.25])
        with np.errstate(all="raise"):  # a 0/0 or x/0 would raise here instead of warning
            got = overlap_bars(p, q)
        assert np.isfinite(got.accept).all(), (
            f"accept = {got.accept}: where q == 0 there is no ratio p / q; the token is never "
            "proposed, so use 1 (compute the ratio only where q > 0)")
        np.testing.assert_allclose(got.accept, [0.8, 1.0, 0.0], atol=1e-12, err_msg=(
            "accept must be min(1, p / q) where q > 0 and 1 where q == 0"))
        assert got.alpha == pytest.approx(0.6, abs=1e-12), "α = 0.6 + 0 + 0 = 0.6"
        np.testing.assert_allclose(got.residual, [0.0, 1.0, 0.0], atol=1e-12,
                                   err_msg="residual = max(p - q, 0) normalised = [0, 1, 0]")

    def test_identical_distributions(self):
        p = np.array([0.1, 0.2, 0.3, 0.4])
        got = overlap_bars(p, p)
        assert got.alpha == pytest.approx(1.0, abs=1e-12), "identical p and q accept always: α = 1"
        assert np.isfinite(got.residual).all() and not got.residual.any(), (
            f"residual = {got.residual}: p == q leaves nothing to correct with; return zeros, "
            "not 0 / 0 = NaN")

    def test_accepts_mlx_arrays_and_lists(self):
        got = overlap_bars(mx.array([0.6, 0.4, 0.0]), [0.25, 0.25, 0.5])
        assert got.overlap.dtype == np.float64, (
            f"the arrays must be float64 NumPy arrays, got {got.overlap.dtype}")
        assert isinstance(got.alpha, float), f"alpha must be a Python float, got {type(got.alpha)}"
        assert got.alpha == pytest.approx(0.5, abs=1e-6), "α = 0.25 + 0.25 + 0 = 0.5"

    def test_rejects_bad_inputs(self):
        with pytest.raises(ValueError):
            overlap_bars([0.5, 0.5], [0.2, 0.3, 0.5])  # shapes differ
        with pytest.raises(ValueError):
            overlap_bars([0.5, 0.6], [0.5, 0.5])  # p sums to 1.1
        with pytest.raises(ValueError):
            overlap_bars([1.2, -0.2], [0.5, 0.5])  # negative entry


def _bars(p, q) -> OverlapBars:
    """Hand-made panel data, so the drawing tests do not depend on overlap_bars."""
    p, q = np.array(p, dtype=np.float64), np.array(q, dtype=np.float64)
    overlap = np.minimum(p, q)
    return OverlapBars(p, q, overlap, np.ones_like(p), np.zeros_like(p), float(overlap.sum()))


class TestDrawAcceptance:
    def test_one_panel_per_scenario_with_three_labelled_bar_series(self):
        panels = {"good": _bars([0.5, 0.3, 0.2], [0.45, 0.35, 0.2]),
                  "bad": _bars([0.5, 0.3, 0.2], [0.1, 0.1, 0.8])}
        fig = draw_acceptance(panels)
        assert isinstance(fig, Figure), (
            f"return the matplotlib Figure (from new_figure), got {type(fig).__name__}")
        assert len(fig.axes) == 2, f"one axes per scenario: expected 2, got {len(fig.axes)}"
        for ax, (name, bars) in zip(fig.axes, panels.items(), strict=True):
            series = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
            assert sorted(series) == sorted(BAR_LABELS), (
                f"panel {name!r}: expected three ax.bar series labelled {BAR_LABELS}, "
                f"got {sorted(series)}")
            for label, want in zip(BAR_LABELS, (bars.p, bars.q, bars.overlap), strict=True):
                heights = [patch.get_height() for patch in series[label]]
                np.testing.assert_allclose(heights, want, atol=1e-12, err_msg=(
                    f"panel {name!r}: the {label!r} bars must have heights {list(want)}"))
            title = ax.get_title()
            assert name in title and f"α = {bars.alpha:.2f}" in title, (
                f"panel {name!r}: the title must name the scenario and the expected acceptance "
                f"('α = {bars.alpha:.2f}'), got {title!r}")

    def test_shaded_overlap_is_drawn_over_the_bars(self):
        fig = draw_acceptance({"x": _bars([0.7, 0.3], [0.4, 0.6])})
        ax = fig.axes[0]
        labels = [c.get_label() for c in ax.containers]
        assert labels[-1] == "min(p, q)", (
            f"draw min(p, q) last, so the shading lies over p and q; series order was {labels}")

    def test_refuses_no_scenarios(self):
        with pytest.raises(ValueError):
            draw_acceptance({})


class TestOptimalKCurves:
    def test_matches_a_brute_force_search(self):
        alphas, costs, v, k_max = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95], [0.02, 0.1, 0.3], 1.0, 16
        got = optimal_k_curves(alphas, costs, v, k_max=k_max)
        assert isinstance(got, OptimalKCurves), f"return an OptimalKCurves, got {type(got)}"
        assert got.best_k.shape == (3, 7) and got.best_speedup.shape == (3, 7), (
            f"best_k must have one row per cost and one column per alpha: shape (3, 7), got "
            f"{got.best_k.shape} (rows and columns swapped?)")
        assert np.issubdtype(got.best_k.dtype, np.integer), (
            f"best_k must be ints, got {got.best_k.dtype}")
        for i, c in enumerate(costs):
            for j, alpha in enumerate(alphas):
                k, s = brute_force(alpha, c, v, k_max)
                assert got.best_k[i, j] == k, (
                    f"c = {c}, α = {alpha}: optimal K is {k} (searching 1 .. k_max = {k_max}), "
                    f"got {got.best_k[i, j]}")
                assert got.best_speedup[i, j] == pytest.approx(s, rel=1e-12), (
                    f"c = {c}, α = {alpha}: the speedup at K = {k} is {s:.6f}, got "
                    f"{got.best_speedup[i, j]:.6f}")
        np.testing.assert_array_equal(got.alphas, alphas, err_msg="alphas must be kept as given")
        np.testing.assert_array_equal(got.costs, costs, err_msg="costs must be kept as given")

    def test_the_chapter_table(self):
        # The chapter's table: c = 0.1 gives K = 1, 2, 4, 6, 10 at α = 0.3, 0.5, 0.7, 0.8, 0.9.
        got = optimal_k_curves([0.3, 0.5, 0.7, 0.8, 0.9], [0.1], k_max=32)
        assert got.best_k[0].tolist() == [1, 2, 4, 6, 10], (
            f"optimal K at c = 0.1 must be [1, 2, 4, 6, 10], got {got.best_k[0].tolist()}")

    def test_v_and_k_max_are_passed_on(self):
        # α = 0.8, c = 0.1: K = 6 at v = 1 but 8 at v = 2 (a dearer pass favours longer drafts).
        dear = optimal_k_curves([0.8], [0.1], v=2.0)
        assert dear.best_k[0, 0] == brute_force(0.8, 0.1, 2.0, 16)[0] == 8, (
            f"α = 0.8, c = 0.1, v = 2: the optimal K is 8, got {dear.best_k[0, 0]} (6 is the "
            "answer for v = 1): pass the verify cost v on to optimal_lookahead")
        got = optimal_k_curves([0.9], [0.05], v=1.5, k_max=8)
        k, s = brute_force(0.9, 0.05, 1.5, 8)
        assert got.best_k[0, 0] == k == 8, (
            f"α = 0.9, c = 0.05, k_max = 8: the search must stop at k_max (K = {k}), got "
            f"{got.best_k[0, 0]}; pass k_max on to optimal_lookahead")
        assert got.best_speedup[0, 0] == pytest.approx(s, rel=1e-12), (
            f"with v = 1.5 the best speedup is {s:.6f}, got {got.best_speedup[0, 0]:.6f}: "
            "pass the verify cost v on to optimal_lookahead and speedup")
        assert got.v == 1.5, f"v must be kept as given (1.5), got {got.v}"

    def test_not_speculating_is_speedup_one(self):
        # At α = 0.2, c = 0.3 no K beats plain decoding; with v = 1.25 speedup(α, 0) is 0.8.
        got = optimal_k_curves([0.2], [0.3], v=1.25)
        assert got.best_k[0, 0] == 0, (
            f"no K >= 1 pays at α = 0.2, c = 0.3: K must be 0, got {got.best_k[0, 0]}")
        assert got.best_speedup[0, 0] == 1.0, (
            f"K = 0 means plain decoding, speedup exactly 1.0, got {got.best_speedup[0, 0]}: "
            "speedup(α, 0, c, v) = 1/v is a round that still pays a verification pass")

    def test_refuses_empty_inputs(self):
        with pytest.raises(ValueError):
            optimal_k_curves([], [0.1])
        with pytest.raises(ValueError):
            optimal_k_curves([0.5], [])


class TestDrawOptimalK:
    def test_two_panels_one_line_per_cost(self):
        alphas = np.array([0.2, 0.5, 0.8])
        curves = OptimalKCurves(alphas, np.array([0.05, 0.2]), 1.0,
                                np.array([[1, 3, 8], [0, 1, 3]]),
                                np.array([[1.1, 1.6, 3.0], [1.0, 1.2, 1.5]]))
        fig = draw_optimal_k(curves)
        assert isinstance(fig, Figure), f"return the matplotlib Figure, got {type(fig).__name__}"
        assert len(fig.axes) == 2, f"two panels (best K, its speedup), got {len(fig.axes)} axes"
        for ax, values, what in zip(fig.axes, (curves.best_k, curves.best_speedup),
                                    ("best_k", "best_speedup"), strict=True):
            lines = {ln.get_label(): ln for ln in ax.get_lines()
                     if not ln.get_label().startswith("_")}
            assert sorted(lines) == ["c = 0.05", "c = 0.2"], (
                f"the {what} panel needs one line per cost labelled 'c = 0.05', 'c = 0.2', got "
                f"{sorted(lines)}")
            for i, label in enumerate(("c = 0.05", "c = 0.2")):
                np.testing.assert_allclose(lines[label].get_ydata(), values[i], err_msg=(
                    f"the {what} panel's {label!r} line must plot {what}[{i}] = {values[i]}"))
                np.testing.assert_allclose(lines[label].get_xdata(), alphas, err_msg=(
                    f"the {what} panel's {label!r} line must have the alphas on the x axis"))
        flat = [ln for ln in fig.axes[1].get_lines() if ln.get_label().startswith("_")]
        assert any(np.allclose(ln.get_ydata(), 1.0) for ln in flat), (
            "the speedup panel needs the break-even line at 1 (ax.axhline(1.0), unlabelled)")
