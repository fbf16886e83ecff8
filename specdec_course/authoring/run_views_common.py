"""What every view of a recorded run shares: argument splitting, Markdown tables, provenance.

May import: nothing of ours (JSON in, text out).
"""

from __future__ import annotations

from typing import Any


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
