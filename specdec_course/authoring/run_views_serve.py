"""Views of a recorded ``specdec bench --serve`` run (Week 5): tables and figures for chapters.

Kept apart from :mod:`.run_views` (the other benches' views), which lists these under the
``serve`` mode. ``costs`` shows the run's measured cost table as Week 2's cost model per
batch size: ``c_B = draft(B) / verify(B, 0)`` and ``v_B(K) = verify(B, K) / verify(B, 0)``.

May import: :mod:`.run_views_common` (JSON in, text out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from specdec_course.authoring.run_views_common import _args, _table, provenance

SERVE_MLX = "mlx-lm BatchGenerator"
#: ``value`` fields of a serving row: its key in the run, and how it is shown.
SERVE_FIELDS = {
    "tok/s": ("throughput", 1.0, ".1f"),
    "ttft-p50": ("ttft_p50", 1e3, ".0f"),
    "ttft-p99": ("ttft_p99", 1e3, ".0f"),
    "itl-p50": ("itl_p50", 1e3, ".1f"),
    "itl-p99": ("itl_p99", 1e3, ".1f"),
}


def _serve_row(run: dict[str, Any], load: str, engine: str) -> dict[str, Any]:
    for row in run["result"]["rows"]:
        if row["load"] == load and row["engine"] == engine:
            return row
    raise KeyError(f"no row {engine!r} under load {load!r} in run {run['name']!r}")


def serve_table(run: dict[str, Any], arg: str) -> str:
    """``LOAD`` (``saturated``, ``0.30x``): every engine's figures under that load."""
    (load,) = _args(arg, 1)
    mlx = _serve_row(run, load, SERVE_MLX)
    body = [
        [
            r["engine"],
            f"{r['throughput']:.1f}",
            f"{r['throughput'] / mlx['throughput']:.2f}x",
            *(f"{1e3 * r[k]:.0f}" for k in ("ttft_p50", "ttft_p99")),
            *(f"{1e3 * r[k]:.1f}" for k in ("itl_p50", "itl_p99")),
            f"{mlx['itl_p50'] / r['itl_p50']:.2f}x",
            str(r["mismatched"]),
        ]
        for r in run["result"]["rows"]
        if r["load"] == load
    ]
    table = _table(
        ["engine", "tok/s", "vs mlx-lm", "TTFT p50 ms", "TTFT p99 ms", "ITL p50 ms",
         "ITL p99 ms", "ITL vs mlx-lm", "diff"],
        ["---"] + ["--:"] * 8,
        body,
    )  # fmt: skip
    res = run["result"]
    rate = res["rates"].get(load)
    how = f"all {res['requests']} requests at t = 0" if rate is None else f"{rate:.2f} requests/s"
    return (
        f"{table}\n\n(Load {load}: {how}; {res['requests']} requests x {res['max_tokens']} "
        f"tokens, {res['slots']} slots, greedy; ITL vs mlx-lm = mlx-lm's ITL p50 ÷ the "
        f"engine's; diff = requests differing from single-sequence greedy decoding.)\n\n"
        f"{provenance(run)}"
    )


def serve_value(run: dict[str, Any], arg: str) -> str:
    """``LOAD; ENGINE; FIELD`` (``tok/s``, ``ttft-p50``, ... in ms), ``rate; LOAD``, or
    ``cost; B; K`` (a round at lookahead K with B live rows, in plain steps of B rows)."""
    parts = [p.strip() for p in arg.split(";")]
    if parts[:1] == ["cost"]:  # cost; B; K: one round at lookahead K, in plain steps of B rows
        _, b, k = (int(x) if x.isdigit() else x for x in _args(arg, 3))
        costs = run["result"]["costs"]
        plain = costs["verify"][b][0]
        return f"{(k * costs['draft_step'][b] + costs['verify'][b][k]) / plain:.2f}"
    if parts[:1] == ["rate"]:
        rate = run["result"]["rates"].get(_args(arg, 2)[1])
        return f"{run['result']['saturated_rate'] if rate is None else rate:.2f}"
    load, engine, key = _args(arg, 3)
    if key not in SERVE_FIELDS:
        raise ValueError(f"field must be one of {sorted(SERVE_FIELDS)}")
    name, scale, spec = SERVE_FIELDS[key]
    return f"{scale * _serve_row(run, load, engine)[name]:{spec}}"


def serve_ratio(run: dict[str, Any], arg: str) -> str:
    """``LOAD; ENGINE A; ENGINE B; tok/s|itl-p50``: A's speedup over B (B's ITL ÷ A's)."""
    load, a, b, key = _args(arg, 4)
    if key not in ("tok/s", "itl-p50"):
        raise ValueError("the ratio field is tok/s or itl-p50")
    ra, rb = _serve_row(run, load, a), _serve_row(run, load, b)
    if key == "tok/s":
        return f"{ra['throughput'] / rb['throughput']:.2f}x"
    return f"{rb['itl_p50'] / ra['itl_p50']:.2f}x"


def serve_costs(run: dict[str, Any], arg: str) -> str:
    """No argument: per batch size, one round's cost at each K as Week 2's ``c`` and ``v``."""
    if arg.strip():
        raise ValueError("the costs view takes no argument")
    costs = run["result"].get("costs")
    if not costs:
        raise KeyError(f"run {run['name']!r} has no cost table (no per-row adaptive engine)")
    draft, verify = costs["draft_step"], costs["verify"]
    k_max = len(verify[1]) - 1
    body = [
        [str(b), f"{1e3 * verify[b][0]:.1f}", f"{draft[b] / verify[b][0]:.2f}",
         *(f"{verify[b][k] / verify[b][0]:.2f}" for k in range(1, k_max + 1))]
        for b in range(1, len(verify))
    ]  # fmt: skip
    table = _table(
        ["live rows B", "plain step ms", "c_B", *(f"v_B({k})" for k in range(1, k_max + 1))],
        ["--:"] * (3 + k_max),
        body,
    )
    return (
        f"{table}\n\n(c_B = one batched draft step ÷ one plain step of B rows; v_B(K) = a "
        f"round's cost besides drafting at lookahead K ÷ one plain step; the bench's medians.)"
        f"\n\n{provenance(run)}"
    )


SERVE_VIEWS: dict[str, Callable[[dict[str, Any], str], str]] = {
    "table": serve_table,
    "value": serve_value,
    "ratio": serve_ratio,
    "costs": serve_costs,
}
