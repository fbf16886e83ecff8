"""The book's figures can be regenerated (specdec_course.authoring.figures)."""

from __future__ import annotations

import subprocess
import sys
import time

from specdec_course.authoring.figures import IMAGES
from specdec_course.core.impl import REPO_ROOT

EXPECTED = [
    "week2-01/speedup-vs-alpha.png",
    "week2-01/speedup-vs-k.png",
    "week2-01/speedup-vs-cost.png",
    "week2-01/heatmap.png",
    "week2-01/break-even.png",
    "week2-01/trace.png",
    "week2-01/acceptance-scenarios.png",
    "week2-01/optimal-k.png",
    "week2-01/simulated-heatmaps.png",
    "week2-02/measured-speedup-vs-alpha.png",
    "week2-03/regime-change.png",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_dpi(data: bytes) -> float:
    """The resolution a PNG declares (its pHYs chunk, pixels per metre), or 0 without one."""
    at = data.find(b"pHYs")
    if at < 0:
        return 0.0
    per_metre = int.from_bytes(data[at + 4: at + 8], "big")
    return per_metre * 0.0254 if data[at + 12] == 1 else 0.0


def test_figures_regenerate_into_a_given_directory(tmp_path):
    # A subprocess, because drawing activates the reference implementation,
    # which must not leak into this test process.
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "specdec_course.authoring.figures", str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    took = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in EXPECTED:
        path = tmp_path / name
        assert path.exists(), f"{name} was not written:\n{proc.stdout}"
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC), f"{name} is not a PNG"
        assert len(data) < 150 * 1024, f"{name} is {len(data) // 1024} KB; keep figures under 150 KB"
        dpi = png_dpi(data)
        assert dpi >= 150, f"{name} is saved at {dpi:.0f} DPI: blurry, use >= 150"
    assert took < 20, f"figure generation took {took:.1f} s"


def test_committed_figures_exist():
    missing = [name for name in EXPECTED if not (IMAGES / name).exists()]
    assert not missing, f"run `uv run python -m specdec_course.authoring.figures` to create {missing}"


def test_the_measured_scatter_reads_every_w2_sweep_run():
    from specdec_course.authoring.figures_runs import sweep_points
    from specdec_course.authoring.runs import load_runs

    runs = load_runs()
    points = sweep_points(runs)
    sweeps = {n for n, r in runs.items() if n.startswith("w2-") and r["mode"] == "sweep"}
    assert {p["run"] for p in points} == sweeps, "every recorded w2-* sweep must give points"
    assert len({p["label"] for p in points}) >= 3, "the scatter needs runs that differ in α̂"
    for p in points:
        assert p["k"] >= 1 and 0.0 < p["alpha"] <= 1.0 and p["speedup"] > 0, p
