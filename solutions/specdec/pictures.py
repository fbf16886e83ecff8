"""Week 2 Day 1: two of the day's pictures, drawn by you.

Each picture is two functions: one computes the figure's data (numbers the tests check
exactly) and one draws that data. Task code does not import matplotlib itself:
:func:`specdec_course.api.plotting.new_figure` hands you a headless ``Figure`` and its axes,
and the drawing is method calls on those axes (``ax.bar``, ``ax.step``, ``ax.set`` ...).

* :func:`overlap_bars` / :func:`draw_acceptance`: the acceptance rule on one target and
  three drafts of it - p and q as bars per token, ``min(p, q)`` shaded, and the expected
  acceptance ``alpha = sum(min(p, q))`` in each panel's title.
* :func:`optimal_k_curves` / :func:`draw_optimal_k`: the best lookahead K against alpha for
  several draft cost ratios c, from :mod:`specdec.theory`, with the speedup it buys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from specdec.theory import _as_probs, optimal_lookahead, speedup

#: A target over a 6-token vocabulary and three drafts of it, good to bad (given).
#: Their acceptances, sum(min(p, q)), are 0.96, 0.70 and 0.40.
TARGET = (0.40, 0.25, 0.15, 0.10, 0.06, 0.04)
SCENARIOS = {
    "good draft": (0.36, 0.27, 0.15, 0.11, 0.06, 0.05),
    "mediocre draft": (0.20, 0.35, 0.05, 0.20, 0.10, 0.10),
    "bad draft": (0.02, 0.08, 0.10, 0.20, 0.25, 0.35),
}
#: The labels of the three bar series of each acceptance panel, in drawing order.
BAR_LABELS = ("p (target)", "q (draft)", "min(p, q)")


@dataclass(frozen=True)
class OverlapBars:
    """The data of one acceptance-rule panel (all arrays float64, shape ``(V,)``).

    Attributes:
        p: the target's probabilities.
        q: the draft's probabilities.
        overlap: ``min(p, q)`` per token: the probability that the draft proposes the token
            *and* the target keeps it. The shaded part of the picture.
        accept: ``min(1, p / q)`` per token, the probability of keeping the token once
            proposed; 1 where ``q == 0`` (a token never proposed is never rejected).
        residual: ``max(p - q, 0)`` normalised to sum 1, what a correction is drawn from;
            all zeros when ``p == q`` (no rejection can happen).
        alpha: the expected acceptance, ``sum(overlap)`` (clipped to 1 against rounding).
    """

    p: np.ndarray
    q: np.ndarray
    overlap: np.ndarray
    accept: np.ndarray
    residual: np.ndarray
    alpha: float


def overlap_bars(p: Any, q: Any) -> OverlapBars:
    """The acceptance rule of one (target, draft) pair, token by token.

    Args:
        p: target probabilities, shape ``(V,)`` (a sequence, ``np.ndarray`` or ``mx.array``).
        q: draft probabilities, the same shape.

    Returns:
        An :class:`OverlapBars`; ``q * accept == overlap`` and ``alpha == overlap.sum()``.

    Raises:
        ValueError: if either is not a 1-D probability vector (as
            :func:`specdec.theory.acceptance_rate` checks them) or the shapes differ.
    """
    # TODO(W2D1): the numbers behind one panel of the acceptance picture.
    #   1. Convert and check p and q with theory's _as_probs (given); refuse different shapes.
    #   2. overlap = min(p, q) per token (the probability of "proposed and kept").
    #   3. accept = min(1, p / q) where q > 0 and 1 where q == 0: compute the ratio only
    #      where q > 0 (np.divide with where=), so no 0/0 warning or NaN appears.
    #   4. residual = max(p - q, 0) divided by its sum; all zeros when that sum is 0.
    #   5. alpha = the sum of the overlap, clipped to 1.
    # BEGIN SOLUTION
    p_np = _as_probs(p, "p")
    q_np = _as_probs(q, "q")
    if p_np.shape != q_np.shape:
        raise ValueError(
            f"p and q must have the same shape (V,), got {p_np.shape} and {q_np.shape}"
        )
    overlap = np.minimum(p_np, q_np)
    ratio = np.divide(p_np, q_np, out=np.ones_like(p_np), where=q_np > 0)
    accept = np.minimum(1.0, ratio)
    excess = np.maximum(p_np - q_np, 0.0)
    total = float(excess.sum())
    residual = excess / total if total > 0 else np.zeros_like(excess)
    alpha = min(1.0, float(overlap.sum()))
    return OverlapBars(p_np, q_np, overlap, accept, residual, alpha)
    # END SOLUTION


def draw_acceptance(panels: dict[str, OverlapBars]) -> Any:
    """Draw the acceptance rule: one panel per scenario, side by side.

    Each panel (one axes, in the order of ``panels``) holds exactly three bar series, drawn
    with ``ax.bar(..., label=...)`` and labelled :data:`BAR_LABELS`: p and q side by side per
    token, and ``min(p, q)`` shaded over them. Its title is the scenario's name and the
    expected acceptance, e.g. ``"good draft: α = 0.96"``.

    Args:
        panels: scenario name -> its :class:`OverlapBars` (at least one).

    Returns:
        The ``matplotlib.figure.Figure`` (from ``specdec_course.api.plotting.new_figure``).

    Raises:
        ValueError: if ``panels`` is empty.
    """
    # TODO(W2D1): draw each scenario's bars.
    #   1. Refuse an empty dict; fig, axes = new_figure(1, len(panels)) (import it here,
    #      from specdec_course.api.plotting: drawing is only needed when you draw).
    #   2. Per panel, x = token ids: bar p at x - 0.2 and q at x + 0.2 (width 0.4), then
    #      min(p, q) at x (width 0.8) shaded: translucent, hatched, drawn last so it is on top.
    #   3. Label the three series with BAR_LABELS; title f"{name}: α = {alpha:.2f}";
    #      axis labels; a legend on the first panel only.
    #   4. Return the figure.
    # BEGIN SOLUTION
    if not panels:
        raise ValueError("draw_acceptance needs at least one scenario")
    from specdec_course.api.plotting import new_figure

    fig, axes = new_figure(1, len(panels), height=3.2)
    for i, (ax, (name, bars)) in enumerate(zip(axes, panels.items(), strict=True)):
        x = np.arange(bars.p.size)
        ax.bar(x - 0.2, bars.p, width=0.4, color="#1e88e5", label=BAR_LABELS[0])
        ax.bar(x + 0.2, bars.q, width=0.4, color="#ff9800", label=BAR_LABELS[1])
        # Shaded last, over both: the mass a draft token keeps through verification.
        ax.bar(
            x,
            bars.overlap,
            width=0.8,
            color="#4caf50",
            alpha=0.45,
            hatch="//",
            edgecolor="#2e7d32",
            label=BAR_LABELS[2],
        )
        ax.set(title=f"{name}: α = {bars.alpha:.2f}", xlabel="token", xticks=x)
        if i == 0:
            ax.set_ylabel("probability")
            ax.legend(fontsize=7)
    return fig
    # END SOLUTION


@dataclass(frozen=True)
class OptimalKCurves:
    """The data of the optimal-K picture.

    Attributes:
        alphas: the acceptance rates, float64, shape ``(A,)``.
        costs: the draft/target cost ratios c, one curve each, shape ``(C,)``.
        v: the verification cost used.
        best_k: int64, shape ``(C, A)``: ``best_k[i, j]`` is the optimal K for
            ``costs[i]`` at ``alphas[j]`` (0 = do not speculate).
        best_speedup: float64, shape ``(C, A)``: the predicted speedup at that K, and exactly
            1.0 where ``best_k`` is 0 (plain decoding, no verification pass to pay).
    """

    alphas: np.ndarray
    costs: np.ndarray
    v: float
    best_k: np.ndarray
    best_speedup: np.ndarray


def optimal_k_curves(
    alphas: Sequence[float], costs: Sequence[float], v: float = 1.0, *, k_max: int = 16
) -> OptimalKCurves:
    """The best lookahead against alpha, one curve per draft cost ratio.

    Args:
        alphas: acceptance rates in ``[0, 1]`` (at least one).
        costs: draft/target cost ratios ``c >= 0`` (at least one).
        v: relative cost of the verification pass, ``> 0``.
        k_max: the largest K searched (as :func:`specdec.theory.optimal_lookahead`).

    Returns:
        An :class:`OptimalKCurves`, rows in the order of ``costs``, columns in the order of
        ``alphas``.

    Raises:
        ValueError: if ``alphas`` or ``costs`` is empty, or for values the theory functions
            reject.
    """
    # TODO(W2D1): one optimal-K curve per cost ratio.
    #   1. Turn alphas and costs into 1-D float64 arrays; refuse an empty one (ValueError).
    #   2. For each c (a row) and each alpha (a column): K = optimal_lookahead(alpha, c, v,
    #      k_max=k_max) - pass v and k_max on, or the curve answers another question.
    #   3. Its speedup: speedup(alpha, K, c, v) for K >= 1, but exactly 1.0 for K = 0
    #      (not speculating is plain decoding; speedup(alpha, 0, c, v) = 1/v is a round
    #      that drafts nothing and still pays a verification pass).
    #   4. Return the arrays (best_k as int64) in an OptimalKCurves.
    # BEGIN SOLUTION
    alpha_arr = np.asarray(alphas, dtype=np.float64).reshape(-1)
    cost_arr = np.asarray(costs, dtype=np.float64).reshape(-1)
    if alpha_arr.size == 0 or cost_arr.size == 0:
        raise ValueError(
            f"optimal_k_curves needs at least one alpha and one cost, got {alpha_arr.size} "
            f"and {cost_arr.size}"
        )
    best_k = np.zeros((cost_arr.size, alpha_arr.size), dtype=np.int64)
    best_s = np.ones((cost_arr.size, alpha_arr.size), dtype=np.float64)
    for i, c in enumerate(cost_arr.tolist()):
        for j, alpha in enumerate(alpha_arr.tolist()):
            k = optimal_lookahead(alpha, c, v, k_max=k_max)
            best_k[i, j] = k
            if k > 0:
                best_s[i, j] = speedup(alpha, k, c, v)
    return OptimalKCurves(alpha_arr, cost_arr, float(v), best_k, best_s)
    # END SOLUTION


def draw_optimal_k(curves: OptimalKCurves) -> Any:
    """Draw the optimal-K picture: two panels side by side.

    The left axes holds one line per cost ratio, drawn with ``ax.step(alphas, best_k[i],
    where="mid", label=f"c = {c:g}")`` - K is an integer, so a staircase, not a slope - and
    the right axes the same for ``best_speedup`` (``ax.plot``), with a dashed break-even line
    at speedup 1 drawn with ``ax.axhline``. Each axes therefore has ``len(costs)`` labelled
    lines (plus the unlabelled break-even line on the right).

    Args:
        curves: the data from :func:`optimal_k_curves`.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    # TODO(W2D1): the staircase of K and the speedup it buys.
    #   1. fig, (left, right) = new_figure(1, 2) (from specdec_course.api.plotting).
    #   2. For each row i: left.step(alphas, best_k[i], where="mid", label=f"c = {c:g}"),
    #      right.plot(alphas, best_speedup[i], label=...) with the same label.
    #   3. right.axhline(1.0, ...) dashed, unlabelled; axis labels, titles naming v, legends.
    #   4. Return the figure.
    # BEGIN SOLUTION
    from specdec_course.api.plotting import new_figure

    fig, (left, right) = new_figure(1, 2, height=3.4)
    for c, ks, speedups in zip(
        curves.costs.tolist(), curves.best_k, curves.best_speedup, strict=True
    ):
        label = f"c = {c:g}"
        left.step(curves.alphas, ks, where="mid", label=label)
        right.plot(curves.alphas, speedups, label=label)
    right.axhline(1.0, color="k", lw=0.8, ls="--")
    left.set(
        xlabel="acceptance rate α",
        ylabel="optimal K",
        title=f"Best lookahead (v = {curves.v:g}; 0 = do not speculate)",
    )
    right.set(
        xlabel="acceptance rate α", ylabel="speedup at the best K", title="What the best K buys"
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig
    # END SOLUTION
