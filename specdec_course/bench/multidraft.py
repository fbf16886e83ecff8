"""Acceptance per target call: sampled multi-draft chains against the greedy-sibling tree.

Week 4 Day 2 verifies two kinds of tree at the same verify width ``1 + N * depth``:

* ``tree NxD``: :func:`specdec.trees.tree_speculative_generate` with ``branch = N`` (the
  draft's best chain and its runners-up, accepted with ``p'(x)``);
* ``multi NxD``: :func:`specdec.multidraft.multidraft_generate` with ``n_drafts = N``
  (``N`` chains sampled from ``q``, accepted with ``min(1, r(x)/q(x))``).

Both are lossless; what differs is how many drafted tokens one target call accepts. The
figures are counts, not timings: they do not depend on the machine's load (only, through
the random draws, on the seeds). Sampling at T > 0, so every configuration runs every prompt
with several seeds.

Run: ``uv run python -m specdec_course.bench.multidraft`` on your code, or with ``--impl``
naming the reference in an instructor checkout (defaults: depth 3, the first 4 held-out
prompts, 48 new tokens, seeds 0-2).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import mlx.core as mx


def measure(
    draft_model: Any,
    target_model: Any,
    prompts: list[list[int]],
    *,
    depth: int,
    max_tokens: int,
    seeds: int,
    drafts: tuple[int, ...] = (1, 2, 4),
    temperatures: tuple[float, ...] = (0.7, 1.0),
) -> list[dict[str, Any]]:
    """One row per (T, N, method): accepted drafted tokens per round and target calls/token.

    A round is one target (verify) call; the prompt's prefill is not counted as a round.
    """
    from specdec.multidraft import multidraft_generate
    from specdec.trees import tree_speculative_generate

    rows = []
    for temperature in temperatures:
        for n in drafts:
            for name, generate, width in (
                (f"tree {n}x{depth}", tree_speculative_generate, "branch"),
                (f"multi {n}x{depth}", multidraft_generate, "n_drafts"),
            ):
                per_round: list[int] = []
                tokens = calls = 0
                start = time.perf_counter()
                for seed in range(seeds):
                    for i, prompt in enumerate(prompts):
                        r = generate(
                            draft_model,
                            target_model,
                            prompt,
                            max_tokens,
                            depth=depth,
                            temperature=temperature,
                            key=mx.random.key(1000 * seed + i),
                            **{width: n},
                        )
                        per_round.extend(r.accepted_per_round)
                        tokens += len(r.tokens)
                        calls += r.target_calls
                rows.append(
                    {
                        "T": temperature,
                        "N": n,
                        "row": name,
                        "verify width": 1 + n * depth,
                        "rounds": len(per_round),
                        "accepted/round": statistics.fmean(per_round),
                        # Rounds are not quite independent (one generation's share a context);
                        # the standard error is a guide to the noise, not a bound.
                        "standard error": (
                            statistics.stdev(per_round) / len(per_round) ** 0.5
                            if len(per_round) > 1
                            else 0.0
                        ),
                        "target calls/token": calls / tokens,
                        "seconds": time.perf_counter() - start,
                    }
                )
                print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict[str, Any]) -> str:
    return (
        f"T={row['T']:.1f}  {row['row']:10}  width {row['verify width']:2}  "
        f"accepted/round {row['accepted/round']:.2f} ± {row['standard error']:.2f} "
        f"({row['rounds']} rounds)  "
        f"target calls/token {row['target calls/token']:.3f}  ({row['seconds']:.0f} s)"
    )


def main(argv: list[str] | None = None) -> int:
    """Load the bundled pair (or ``--draft``/``--target``) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--impl", default=None, help="which specdec to measure (default: as `specdec` does)"
    )
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    from rich.console import Console

    from specdec_course.bench.settings import load_line, measure_with_impl

    console = Console()
    print(f"before: {load_line()}")
    out = measure_with_impl(
        console,
        args.impl,
        None,
        None,
        None,
        args.num_prompts,
        lambda _name, draft, target, prompts: measure(
            draft,
            target,
            prompts,
            depth=args.depth,
            max_tokens=args.max_tokens,
            seeds=args.seeds,
        ),
    )
    print(f"after: {load_line()}")
    return out if isinstance(out, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
