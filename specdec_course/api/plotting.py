"""Headless matplotlib figures for task code.

Task modules may not import matplotlib (the grader's static check allows ``specdec_course.api``
instead), so this module hands them a figure and its axes; the drawing itself is method calls
on those axes (``ax.bar``, ``ax.step``, ``ax.set`` ...), which need no import.

The figure is a bare :class:`matplotlib.figure.Figure`, never a pyplot one: it opens no window,
needs no GUI backend (``savefig`` renders with Agg), and is freed with its last reference, so
tests can build hundreds without ``plt.close``.

May import: ``core`` (nothing of ours is needed).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Resolution of saved pictures (the book's figures use the same).
DPI = 150


def new_figure(
    nrows: int = 1, ncols: int = 1, *, width: float | None = None, height: float | None = None
) -> tuple[Figure, list[Axes]]:
    """A headless figure with a grid of axes.

    Args:
        nrows: rows of axes, ``>= 1``.
        ncols: columns of axes, ``>= 1``.
        width: figure width in inches (default 4.2 per column).
        height: figure height in inches (default 3.4 per row).

    Returns:
        ``(figure, axes)``, the axes as a flat list in reading order (left to right, then top
        to bottom), so ``axes[i]`` is the i-th panel whatever the grid's shape.

    Raises:
        ValueError: for fewer than one row or column.
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(f"a figure needs at least one row and one column, got {nrows} x {ncols}")
    size = (width or 4.2 * ncols, height or 3.4 * nrows)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save_figure(fig: Figure, path: str | Path, *, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG (folders created), returning the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
