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

#: Week 4 and batch row names the views rely on (the benches' own names).
W4_BASE = "target-only"
BATCH_OWN_TARGET = "batched target (W3D1)"
BATCH_MLX_TARGET = "batched target (mlx-lm)"


def _args(arg: str, count: int) -> list[str]:
    parts = [p.strip() for p in arg.split(";")] if arg else []
    if len(parts) != count:
        raise ValueError(f"expects {count} argument(s) separated by ';', got {arg!r}")
    return parts


def _load(values: list[float]) -> str:
    return f"{values[0]:.1f}" if values else "unknown"


def provenance(run: dict[str, Any]) -> str:
    """One line: which run, on what, and how to reproduce it."""
    dirty = run.get("dirty_files") or []
    commit = run["commit"][:7] + (f" with {len(dirty)} uncommitted file(s)" if dirty else "")
    return (
        f"*Recorded run `book/runs/{run['name']}.json` ({run['recorded_at']}, commit "
        f"{commit}; {run['blas'].split(' (')[0]}, MLX {run['device']}; load average "
        f"{_load(run['load_average_before'])} before, {_load(run['load_average_after'])} "
        f"after, on {run['cpus']} CPUs; seed {run['seed']}). Reproduce with "
        f"`{run['command']}`.*"
    )


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


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


# --- Week 5 (specdec bench --serve) ------------------------------------------------------

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
    """``LOAD; ENGINE; FIELD`` (``tok/s``, ``ttft-p50``, ... in ms), or ``rate; LOAD``."""
    parts = [p.strip() for p in arg.split(";")]
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


VIEWS: dict[str, dict[str, Callable[[dict[str, Any], str], str]]] = {
    "week4": {"table": w4_table, "speedup": w4_speedup, "ratio": w4_ratio, "value": w4_value},
    "batch": {"crossover": batch_crossover, "value": batch_value, "ratio": batch_ratio},
    "sweep": {"table": sweep_table, "value": sweep_value},
    "serve": {"table": serve_table, "value": serve_value, "ratio": serve_ratio},
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
