"""The speed bar: mlx-lm's own speculative decoding on the bundled pair.

Before students write a line, this answers "can speculative decoding pay off
on *this* machine with *these* models at all?" using mlx-lm's reference
implementation (``speculative_generate_step``) against plain autoregressive
decoding (``generate_step``): greedy, same process, warm-up excluded, outputs
checked token for token. It also measures the quantities the speedup formula
needs: per-token cost of draft and target, their ratio ``c``, the cost of
verifying ``K+1`` tokens in one target call, and the acceptance rate ``alpha``.

Run: ``uv run python -m specdec_course.bench.mlxlm_speed`` (add ``--help``).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import mlx.core as mx

from specdec_course.api.models import load_pair
from specdec_course.bench.mlxlm import (
    alpha_mle,
    baseline_tokens,
    forward_ms,
    iid_tokens_per_round,
    mlx_lm_rounds,
    predicted_speedup,
    speculative_tokens,
)
from specdec_course.bench.sweep import rotated
from specdec_course.core.blas import blas_name, ensure_fast_blas
from specdec_course.core.cmdline import without_options
from specdec_course.core.paths import MODELS_DIR, PROMPTS_PATH, load_prompts

CARD_HEADING = "## Measured speed (mlx-lm speculative decoding"


@dataclass
class KResult:
    """Speculative decoding figures for one number of draft tokens ``K``."""

    k: int
    seconds: float
    tokens: int
    tokens_per_s: float
    speedup: float
    speedup_low: float
    speedup_high: float
    alpha: float
    mean_accepted: float
    verify_ratio: float
    predicted_iid: float
    predicted_measured: float
    mismatches: int


@dataclass
class SpeedReport:
    """Everything :func:`measure` found; serialisable with ``dataclasses.asdict``."""

    blas: str
    machine: str
    n_prompts: int
    max_tokens: int
    repeats: int
    draft_ms: float
    target_ms: float
    c: float
    baseline_tokens_per_s: float
    results: list[KResult] = field(default_factory=list)
    command: str = "uv run python -m specdec_course.bench.mlxlm_speed"

    @property
    def best(self) -> KResult:
        """The K with the highest measured speedup."""
        return max(self.results, key=lambda r: r.speedup)


def measure(
    draft_path: str | None = None,
    target_path: str | None = None,
    *,
    n_prompts: int = 8,
    max_tokens: int = 128,
    ks: range = range(1, 9),
    repeats: int = 3,
    prompts_path: Path = PROMPTS_PATH,
    log: Callable[[str], None] = print,
) -> SpeedReport:
    """Run the baseline and the K sweep and return the figures (no printing of tables).

    A shared machine's speed drifts by tens of percent within minutes, so
    configurations are interleaved: each repeat times the target alone, the
    draft alone and every K once over all prompts, in an order rotated from
    repeat to repeat. A K's speedup is the median over repeats of
    (baseline time / speculative time) *within* a repeat, so both sides of
    each ratio saw the same machine; the spread of those ratios is reported.
    """
    draft, target, tokenizer = load_pair(draft_path, target_path)
    prompts = [mx.array(tokenizer.encode(p), mx.uint32) for p in load_prompts(prompts_path)[:n_prompts]]

    # Warm-up: first calls pay for kernel set-up and memory allocation.
    for k in (1, max(ks)):
        speculative_tokens(draft, target, prompts[0], 16, k)
    baseline_tokens(target, prompts[0], 16)
    baseline_tokens(draft, prompts[0], 16)

    configs: list[str | int] = ["target", "draft", *ks]
    secs: dict[str | int, list[float]] = {name: [] for name in configs}
    outputs: dict[str | int, list] = {}
    for rep in range(repeats):
        for name in rotated(configs, rep):
            t0 = time.perf_counter()
            if name in ("target", "draft"):
                model = target if name == "target" else draft
                outputs[name] = [baseline_tokens(model, p, max_tokens) for p in prompts]
            else:
                outputs[name] = [speculative_tokens(draft, target, p, max_tokens, int(name)) for p in prompts]
            secs[name].append(time.perf_counter() - t0)
        log(f"repeat {rep + 1}/{repeats}: baseline {secs['target'][-1]:.2f} s, "
            + ", ".join(f"K={k} {secs[k][-1]:.2f} s" for k in ks))

    reference = outputs["target"]
    n_tok = sum(len(o) for o in reference)
    t_target = statistics.median(secs["target"])
    target_ms = t_target / n_tok * 1e3
    draft_ms = statistics.median(secs["draft"]) / sum(len(o) for o in outputs["draft"]) * 1e3
    c = statistics.median(d / t for d, t in zip(secs["draft"], secs["target"]))
    one = forward_ms(target, prompts[0], 1)
    log(f"target {target_ms:.2f} ms/token, draft {draft_ms:.2f} ms/token, c = {c:.3f}")

    report = SpeedReport(
        blas=blas_name(),
        machine=f"{platform.machine()} {platform.system()}",
        n_prompts=len(prompts),
        max_tokens=max_tokens,
        repeats=repeats,
        draft_ms=draft_ms,
        target_ms=target_ms,
        c=c,
        baseline_tokens_per_s=n_tok / t_target,
    )
    for k in ks:
        accepted_rounds: list[int] = []
        drafted_rounds: list[int] = []
        mismatches = produced = 0
        for (toks, flags), ref in zip(outputs[k], reference):
            a, d = mlx_lm_rounds(flags, k, max_tokens)
            accepted_rounds += a
            drafted_rounds += d
            produced += len(toks)
            mismatches += sum(x != y for x, y in zip(toks, ref)) + abs(len(toks) - len(ref))
        ratios = [b / t for b, t in zip(secs["target"], secs[k])]
        alpha = alpha_mle(accepted_rounds, drafted_rounds)
        verify = forward_ms(target, prompts[0], k + 1) / one
        per_round = sum(accepted_rounds) / max(len(accepted_rounds), 1)
        t_k = statistics.median(secs[k])
        res = KResult(
            k=k, seconds=t_k, tokens=produced, tokens_per_s=produced / t_k,
            speedup=statistics.median(ratios), speedup_low=min(ratios), speedup_high=max(ratios),
            alpha=alpha, mean_accepted=per_round, verify_ratio=verify,
            predicted_iid=predicted_speedup(iid_tokens_per_round(alpha, k), k, c, verify),
            predicted_measured=predicted_speedup(per_round + 1, k, c, verify),
            mismatches=mismatches,
        )
        report.results.append(res)
        log(f"K={k}: {res.tokens_per_s:.1f} tok/s, speedup {res.speedup:.2f}x "
            f"({res.speedup_low:.2f}-{res.speedup_high:.2f}), alpha {alpha:.3f}")
    return report


def render(report: SpeedReport) -> None:
    """Print the report as rich tables."""
    from rich.console import Console
    from rich.table import Table

    # Off a terminal rich assumes 80 columns, which would truncate the table in logs.
    console = Console(width=None if sys.stdout.isatty() else 120)
    console.print(f"[bold]BLAS:[/bold] {report.blas}   [bold]machine:[/bold] {report.machine}")
    console.print(
        f"greedy, {report.max_tokens} new tokens x {report.n_prompts} held-out prompts; "
        f"draft {report.draft_ms:.2f} ms/token, target {report.target_ms:.2f} ms/token, "
        f"c = {report.c:.3f}; baseline {report.baseline_tokens_per_s:.1f} tok/s"
    )
    table = Table(title="mlx-lm speculative_generate_step vs generate_step")
    for col in ("K", "alpha", "acc/round", "verify", "tok/s", "speedup", "range",
                "model", "iid", "diff"):
        table.add_column(col, justify="right")
    best = report.best.k
    for r in report.results:
        style = "bold green" if r.k == best else None
        table.add_row(
            str(r.k), f"{r.alpha:.3f}", f"{r.mean_accepted:.2f}", f"{r.verify_ratio:.2f}x",
            f"{r.tokens_per_s:.1f}", f"{r.speedup:.2f}x", f"{r.speedup_low:.2f}-{r.speedup_high:.2f}",
            f"{r.predicted_measured:.2f}x",
            f"{r.predicted_iid:.2f}x", str(r.mismatches), style=style,
        )
    console.print(table)
    console.print(
        "alpha = per-token acceptance rate (accepted / draft tokens the verifier examined); "
        "verify = cost of one target call on K+1 tokens / on 1 token; model = speedup the "
        "cost model predicts from measured accepted/round, c and verify; iid = the textbook "
        "formula (1 - alpha^(K+1)) / (1 - alpha) / (K*c + verify), which assumes independent "
        "acceptances; diff = tokens differing from plain greedy decoding."
    )
    if any(r.mismatches for r in report.results):
        console.print("[yellow]some outputs differ from plain greedy decoding "
                      "(float near-ties between batched and single-token passes)[/yellow]")


def card_section(report: SpeedReport) -> str:
    """Markdown section with the measured figures, for the model cards."""
    lines = [
        f"{CARD_HEADING}, {_blas_label(report.blas)})",
        "",
        f"mlx-lm `speculative_generate_step` vs `generate_step`, greedy, {report.max_tokens} "
        f"new tokens on {report.n_prompts} held-out prompts, {report.machine}, "
        f"BLAS: {report.blas}. Reproduce with `{_env_prefix(report.blas)}{report.command}`.",
        "",
        f"- draft {report.draft_ms:.2f} ms/token, target {report.target_ms:.2f} ms/token, "
        f"c = {report.c:.3f}",
        f"- baseline {report.baseline_tokens_per_s:.1f} tokens/s",
        "",
        "| K | alpha | accepted/round | verify(K+1)/1 | tokens/s | speedup (median) | range |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in report.results:
        lines.append(f"| {r.k} | {r.alpha:.3f} | {r.mean_accepted:.2f} | {r.verify_ratio:.2f}x | "
                     f"{r.tokens_per_s:.1f} | {r.speedup:.2f}x | {r.speedup_low:.2f}-{r.speedup_high:.2f}x |")
    lines += [
        "",
        f"Every configuration ran {report.repeats} time{'s' if report.repeats != 1 else ''}, "
        "interleaved in rotated order; speedup is the "
        "median of the per-repeat ratios (baseline time / speculative time), range their min-max. "
        "alpha = accepted / draft tokens the verifier examined (tokens after a rejection are not "
        "examined). Outputs were identical to plain greedy decoding"
        + ("." if not any(r.mismatches for r in report.results) else
           f" except {sum(r.mismatches for r in report.results)} tokens (float near-ties).")
    ]
    return "\n".join(lines) + "\n"


def _blas_label(blas: str) -> str:
    """Short BLAS name for headings: "OpenBLAS", "reference BLAS", ..."""
    return blas.split(" (")[0]


def _env_prefix(blas: str) -> str:
    """The environment needed to repeat a measurement taken without OpenBLAS."""
    return "" if blas.startswith("OpenBLAS") or not sys.platform.startswith("linux") \
        else "SPECDEC_NO_OPENBLAS=1 "


def update_cards(report: SpeedReport, models_dir: Path = MODELS_DIR) -> None:
    """Replace (or append) the measured-speed section in both bundled model cards."""
    section = card_section(report)
    heading = f"{CARD_HEADING}, {_blas_label(report.blas)})"
    for name in ("specdec-target", "specdec-draft"):
        card = models_dir / name / "README.md"
        text = card.read_text()
        pattern = re.compile(re.escape(heading) + r".*?(?=\n## |\Z)", re.S)
        if pattern.search(text):
            text = pattern.sub(section.rstrip("\n") + "\n", text)
        else:
            text = text.rstrip("\n") + "\n\n" + section
        card.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns 0 if the best speedup reaches ``--bar``."""
    p = argparse.ArgumentParser(prog="specdec mlxlm-speed", description=__doc__.splitlines()[0])
    p.add_argument("--draft", default=None, help="draft model path or repo (default: bundled)")
    p.add_argument("--target", default=None, help="target model path or repo (default: bundled)")
    p.add_argument("--prompts", type=int, default=8, help="number of held-out prompts")
    p.add_argument("--prompts-file", type=Path, default=PROMPTS_PATH,
                   help="JSON list of prompt strings (default: the bundled held-out prompts)")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--max-k", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3,
                   help="interleaved runs of every configuration (the median ratio counts)")
    p.add_argument("--bar", type=float, default=1.5, help="speedup the best K must reach")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--update-cards", action="store_true",
                   help="write the figures into models/*/README.md")
    args = p.parse_args(argv)
    if argv is None:
        ensure_fast_blas([sys.executable, "-m", "specdec_course.bench.mlxlm_speed", *sys.argv[1:]])

    report = measure(args.draft, args.target, n_prompts=args.prompts,
                     max_tokens=args.max_tokens, ks=range(1, args.max_k + 1),
                     repeats=args.repeats, prompts_path=args.prompts_file,
                     log=lambda m: print(m, file=sys.stderr, flush=True))
    report.command = "uv run python -m specdec_course.bench.mlxlm_speed" + "".join(
        f" {a}" for a in without_options(argv if argv is not None else sys.argv[1:],
                                         valued=["--json"], flags=["--update-cards"]))
    render(report)
    if args.json:
        data = asdict(report)
        data["best_k"] = report.best.k
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    if args.update_cards:
        update_cards(report)
    ok = report.best.speedup >= args.bar
    print(f"best K = {report.best.k}: {report.best.speedup:.2f}x "
          f"({'meets' if ok else 'below'} the {args.bar}x bar)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
