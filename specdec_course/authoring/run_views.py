"""Views of a recorded run: the tables and single figures chapters quote.

Each view turns a run (``book/runs/<name>.json``, see :mod:`.runs`) into Markdown. Table
views end with a provenance line naming the run and the command that reproduces it; figure
views give one number for a sentence. Arguments after the view are separated by ``;``.

Ratios are always computed here from tokens/s (``row tok/s ÷ other row tok/s``), so a
table's "vs target-only" column is exactly its tok/s column divided by the target-only row.

May import: nothing of ours (JSON in, text out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from specdec_course.authoring.run_views_common import _args, _table, provenance
from specdec_course.authoring.run_views_serve import SERVE_VIEWS

#: Week 4 and batch row names the views rely on (the benches' own names).
W4_BASE = "target-only"
BATCH_OWN_TARGET = "batched target (W3D1)"
BATCH_MLX_TARGET = "batched target (mlx-lm)"


# --- Week 4 (specdec bench --week4) ------------------------------------------------------


def _w4_row(run: dict[str, Any], name: str) -> dict[str, Any]:
    for row in run["result"]["rows"]:
        if row["name"] == name:
            return row
    raise KeyError(f"no row {name!r} in run {run['name']!r}")


def w4_table(run: dict[str, Any], arg: str) -> str:
    """The Week 4 rows (all, or those named in ``arg``, ``;``-separated)."""
    base = _w4_row(run, W4_BASE)["tokens_per_s"]
    wanted = [p.strip() for p in arg.split(";")] if arg else None
    rows = [r for r in run["result"]["rows"] if wanted is None or r["name"] in wanted]
    body = [
        [
            r["name"],
            "-" if r["k"] is None else str(r["k"]),
            f"{r['tokens_per_s']:.1f}",
            f"{r['tokens_per_s'] / base:.2f}x",
            f"{r['target_calls_per_token']:.2f}",
            f"{r['accepted_per_round']:.2f}",
        ]
        for r in rows
    ]
    table = _table(
        ["row", "K", "tok/s", "vs target-only", "target calls/token", "accepted/round"],
        ["---", "--:", "--:", "--:", "--:", "--:"],
        body,
    )
    res = run["result"]
    diffs = [f"{r['name']} {r['mismatches']}" for r in rows if r["mismatches"]]
    same = (
        "every row's output equals target-only greedy decoding"
        if not diffs
        else "tokens differing from target-only greedy: " + ", ".join(diffs)
    )
    return (
        f"{table}\n\n(Greedy, {res['n_prompts']} held-out prompts x {res['max_tokens']} "
        f"tokens, K = {res['k']}, medians of {res['repeats']} interleaved repeats; "
        f"vs target-only = tok/s ÷ the target-only row's tok/s; {same}.)\n\n{provenance(run)}"
    )


def w4_speedup(run: dict[str, Any], arg: str) -> str:
    """``ROW``: its tok/s ÷ target-only's, as ``1.92x``."""
    (name,) = _args(arg, 1)
    return f"{_w4_row(run, name)['tokens_per_s'] / _w4_row(run, W4_BASE)['tokens_per_s']:.2f}x"


def w4_ratio(run: dict[str, Any], arg: str) -> str:
    """``ROW A; ROW B``: tok/s of A ÷ tok/s of B, as ``1.06x``."""
    a, b = _args(arg, 2)
    return f"{_w4_row(run, a)['tokens_per_s'] / _w4_row(run, b)['tokens_per_s']:.2f}x"


def w4_value(run: dict[str, Any], arg: str) -> str:
    """``ROW; FIELD``: one field of a row (tok/s to one decimal, others to two)."""
    name, key = _args(arg, 2)
    value = _w4_row(run, name)[key]
    return f"{value:.1f}" if key == "tokens_per_s" else f"{value:.2f}"


# --- Week 3 (specdec bench --batch) ------------------------------------------------------


def _batch_row(run: dict[str, Any], name: str, batch: int) -> dict[str, Any]:
    for row in run["result"]["rows"]:
        if row["name"] == name and row["batch"] == batch:
            return row
    raise KeyError(f"no row {name!r} at B = {batch} in run {run['name']!r}")


def _best(run: dict[str, Any], batch: int) -> dict[str, Any]:
    rows = [
        r
        for r in run["result"]["rows"]
        if r["batch"] == batch and r["name"].startswith("batched spec")
    ]
    if not rows:
        raise KeyError(f"no batched speculation at B = {batch}")
    return max(rows, key=lambda r: r["tokens_per_s"])


def _batched_target(run: dict[str, Any], batch: int) -> float:
    return max(
        _batch_row(run, n, batch)["tokens_per_s"] for n in (BATCH_OWN_TARGET, BATCH_MLX_TARGET)
    )


def batch_crossover(run: dict[str, Any], arg: str) -> str:
    """Per batch size: the best K's speculation against sequential and batched target-only."""
    body = []
    for b in run["result"]["batches"]:
        best = _best(run, b)
        seq = _batch_row(run, f"sequential spec K={best['k']}", b)["tokens_per_s"]
        target = _batched_target(run, b)
        body.append(
            [
                str(b),
                str(best["k"]),
                f"{best['tokens_per_s']:.1f}",
                f"{best['tokens_per_s'] / seq:.2f}x",
                f"{target:.1f}",
                f"{best['tokens_per_s'] / target:.2f}x",
            ]
        )
    table = _table(
        [
            "B",
            "best K",
            "spec tok/s",
            "vs B sequential runs",
            "batched target tok/s",
            "vs batched target",
        ],
        ["--:"] * 6,
        body,
    )
    res = run["result"]
    mism = sum(r["mismatched_rows"] for r in res["rows"])
    same = (
        "every row equal to mlx-lm's single-row greedy decoding"
        if not mism
        else f"{mism} rows differing from single-row greedy decoding"
    )
    return (
        f"{table}\n\n({res['max_tokens']} tokens per row, K in "
        f"{', '.join(map(str, res['ks']))}, medians of {res['repeats']} interleaved repeats; "
        f"batched target = the faster of the Day 1 loop and mlx-lm's `batch_generate`; "
        f"{same}.)\n\n{provenance(run)}"
    )


def batch_value(run: dict[str, Any], arg: str) -> str:
    """``B; NAME; FIELD``: ``tok/s``, ``rounds-min``, ``rounds-max`` of a row; NAME may be
    ``best`` (the fastest speculation), ``sequential`` (the sequential runs at best's K)
    or ``batched target`` (the faster target-only)."""
    b_text, name, key = _args(arg, 3)
    b = int(b_text)
    if name == "batched target":
        if key != "tok/s":
            raise ValueError("batched target has only tok/s")
        return f"{_batched_target(run, b):.1f}"
    if name == "sequential":  # the sequential runs at the best speculation's K
        name = f"sequential spec K={_best(run, b)['k']}"
    row = _best(run, b) if name == "best" else _batch_row(run, name, b)
    fields: dict[str, Callable[[dict[str, Any]], str]] = {
        "tok/s": lambda r: f"{r['tokens_per_s']:.1f}",
        "k": lambda r: str(r["k"]),
        "rounds-min": lambda r: str(r["rounds"][0]),
        "rounds-max": lambda r: str(r["rounds"][1]),
        "rounds-tail": lambda r: str(r["rounds"][1] - r["rounds"][0]),
        "accepted": lambda r: f"{r['accepted_per_round']:.2f}",
    }
    if key not in fields:
        raise ValueError(f"field must be one of {sorted(fields)}")
    return fields[key](row)


def batch_ratio(run: dict[str, Any], arg: str) -> str:
    """``B; NAME A; NAME B`` (names as in :func:`batch_value`): tok/s of A ÷ tok/s of B."""
    b, a, c = _args(arg, 3)
    num, den = (float(batch_value(run, f"{b}; {name}; tok/s")) for name in (a, c))
    return f"{num / den:.2f}x"


# --- Week 2 Day 2 (the default specdec bench K sweep) ------------------------------------


def _f(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def sweep_table(run: dict[str, Any], arg: str) -> str:
    """The K sweep: measured and predicted speedup per K."""
    res = run["result"]
    rows = [r for r in res["rows"] if r["group"] == "sweep"]
    body = []
    for r in rows:
        tps = f"{r['tokens_per_s']:.1f}"
        if r.get("tokens_per_s_std") is not None:
            tps += f" ± {r['tokens_per_s_std']:.1f}"
        body.append(
            [
                "target-only" if r["k"] is None else str(r["k"]),
                tps,
                _f(r["speedup"], ".2f", "×"),
                _f(r["target_calls"], ".1f"),
                _f(r["alpha"], ".3f"),
                _f(r["mean_accepted"], ".2f"),
                _f(r["v"], ".2f"),
                _f(r["predicted_speedup"], ".2f", "×"),
                _f(r["measured_over_predicted"], ".2f"),
            ]
        )
    table = _table(
        [
            "K",
            "tok/s",
            "speedup",
            "calls",
            "\\\\( \\hat\\alpha \\\\)",
            "acc./round",
            "v",
            "predicted",
            "ratio",
        ],
        ["---"] * 9,
        body,
    )
    s = res["settings"]
    same = (
        "every output equal to the baseline's"
        if res.get("identical_output")
        else "outputs differing from the baseline's (see the run's mismatches)"
    )
    return (
        f"{table}\n\n({s['n_prompts']} prompts x {s['repeats']} repeats, {s['max_tokens']} "
        f"tokens, T = {s['temperature']}; c = {res['costs']['c']:.3f}; {same}.)\n\n"
        f"{provenance(run)}"
    )


def sweep_value(run: dict[str, Any], arg: str) -> str:
    """``K; FIELD`` (K = ``target-only`` for the baseline); FIELD ``tok/s``, ``alpha``,
    ``accepted``, ``speedup``; or ``c`` alone for the measured draft cost ratio."""
    if arg.strip() == "c":
        return f"{run['result']['costs']['c']:.2f}"
    k_text, key = _args(arg, 2)
    k = None if k_text == "target-only" else int(k_text)
    row = next((r for r in run["result"]["rows"] if r["group"] == "sweep" and r["k"] == k), None)
    if row is None:
        raise KeyError(f"no sweep row K = {k_text}")
    fields = {
        "tok/s": ("tokens_per_s", ".1f", ""),
        "alpha": ("alpha", ".2f", ""),
        "accepted": ("mean_accepted", ".2f", ""),
        "speedup": ("speedup", ".2f", "×"),
    }
    if key not in fields:
        raise ValueError(f"field must be one of {sorted(fields)}")
    name, spec, unit = fields[key]
    return _f(row[name], spec, unit)


VIEWS: dict[str, dict[str, Callable[[dict[str, Any], str], str]]] = {
    "week4": {"table": w4_table, "speedup": w4_speedup, "ratio": w4_ratio, "value": w4_value},
    "batch": {"crossover": batch_crossover, "value": batch_value, "ratio": batch_ratio},
    "sweep": {"table": sweep_table, "value": sweep_value},
    "serve": SERVE_VIEWS,
}


def render_view(run: dict[str, Any], view: str, arg: str = "") -> str:
    """Render ``view`` of ``run`` (its bench mode decides which views exist).

    Raises:
        KeyError: an unknown view or a row the run does not have.
        ValueError: malformed arguments.
    """
    if view == "provenance":
        return provenance(run)
    views = VIEWS.get(run.get("mode", ""), {})
    if view not in views:
        raise KeyError(
            f"no view {view!r} for a {run.get('mode')!r} run "
            f"(views: {', '.join(sorted(views))}, provenance)"
        )
    return views[view](run, arg)
