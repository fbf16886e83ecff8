"""Train the bundled draft/target model pair from scratch, reproducibly.

The course needs a pair of models that (a) share one tokenizer, (b) run fast
enough on a laptop CPU to be measured in seconds, and (c) differ enough in
cost that speculative decoding actually pays off. Nothing downloadable fits
all three offline, so we train our own on the one corpus every Python install
already carries: the standard library's own source (PSF licence).

Pipeline (every random choice is seeded):

1. corpus   - stdlib ``*.py`` files (no tests, no site-packages), sorted; whole
              files are held out for evaluation and for benchmark prompts.
2. tokenizer- byte-level BPE (``tokenizers``) with ``<|endoftext|>`` as EOS.
3. target   - a deeper/wider mlx-lm ``llama`` trained with cross-entropy.
4. draft    - a one-layer ``llama`` *distilled* on the target's own
              distribution (forward KL), on corpus text and on text the target
              generated itself, because acceptance rate depends on how well
              the draft imitates the target, not on how well it models Python.

Run ``python -m specdec_course.training.main --help`` (or ``specdec
train-models``). ``--quick`` is a sub-minute smoke run into a temp directory.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np
from mlx_lm.models.llama import Model

from specdec_course.api.models import DRAFT_NAME, TARGET_NAME
from specdec_course.core.cmdline import without_options
from specdec_course.core.paths import REPO_ROOT
from specdec_course.training.cards import model_card, n_params, save_model
from specdec_course.training.config import DEFAULT_PROMPTS_PATH, FULL, QUICK, TrainSpec, model_args
from specdec_course.training.corpus import (
    encode_stream,
    make_prompts,
    read_text,
    split_files,
    stdlib_files,
    train_tokenizer,
)
from specdec_course.training.options import build_parser
from specdec_course.training.train import (
    distill_draft,
    eval_loss,
    generate_from_target,
    greedy_agreement,
    log,
    train_target,
)

# Entry point
# --------------------------------------------------------------------------


def _fit_budget(cfg: dict[str, Any], minutes: float, t_target_step: float, t_draft_step: float,
                spent: float) -> None:
    """Shrink step counts proportionally so the remaining phases fit ``minutes``."""
    left = minutes * 60 - spent
    need = cfg["target_train"].steps * t_target_step + cfg["draft_train"].steps * t_draft_step
    if need > left > 0:
        scale = left / need
        cfg["target_train"].steps = max(10, int(cfg["target_train"].steps * scale))
        cfg["draft_train"].steps = max(10, int(cfg["draft_train"].steps * scale))
        log(f"--minutes {minutes}: scaled steps to target {cfg['target_train'].steps}, "
             f"draft {cfg['draft_train'].steps}")


def main(argv: list[str] | None = None) -> int:
    """Train tokenizer, target and draft; write ``models/`` and the held-out prompts."""
    args = build_parser().parse_args(argv)
    if argv is None:
        # Run as a module: training with the reference BLAS would take hours.
        from specdec_course.core.blas import ensure_fast_blas

        ensure_fast_blas([sys.executable, "-m", "specdec_course.training.main", *sys.argv[1:]])
    t_start = time.perf_counter()
    cfg = {k: (TrainSpec(**asdict(v)) if isinstance(v, TrainSpec) else v)
           for k, v in (QUICK if args.quick else FULL).items()}
    if args.target_steps is not None:
        cfg["target_train"].steps = args.target_steps
    if args.draft_steps is not None:
        cfg["draft_train"].steps = args.draft_steps
    if args.out is None:
        if args.quick:
            import tempfile
            args.out = Path(tempfile.mkdtemp(prefix="specdec-quick-"))
        else:
            args.out = REPO_ROOT / "models"
    prompts_out = args.prompts_out or (None if args.quick else DEFAULT_PROMPTS_PATH)

    from specdec_course.core.blas import blas_name

    log(f"BLAS: {blas_name()}")

    mx.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)

    files = stdlib_files()
    train_files, held_files = split_files(files, args.seed)
    if args.quick:
        train_files, held_files = train_files[:40], held_files[:8]
    train_texts = [t for t in map(read_text, train_files) if t]
    held_texts = [t for t in map(read_text, held_files) if t]
    log(f"corpus: {len(train_texts)} train files, {len(held_texts)} held-out files")

    prompts = make_prompts(held_files, np.random.default_rng(args.seed + 1))
    if prompts_out is not None:
        prompts_out.parent.mkdir(parents=True, exist_ok=True)
        prompts_out.write_text(json.dumps(prompts, indent=2) + "\n")
        log(f"wrote {len(prompts)} held-out prompts to {prompts_out}")

    if args.reuse_target:
        # Iterating on the draft only: keep the saved target and its tokenizer.
        from mlx_lm import load

        target_dir = args.out / TARGET_NAME
        loaded_target, wrapper = load(str(target_dir))
        tokenizer = wrapper._tokenizer
        old_report = json.loads((args.out / "training_report.json").read_text())
    else:
        tokenizer = train_tokenizer(train_texts[: cfg["tokenizer_files"]], cfg["vocab"])
    vocab = len(tokenizer)
    train_stream = encode_stream(tokenizer, train_texts)
    held_stream = encode_stream(tokenizer, held_texts)
    log(f"tokenizer: vocab {vocab}, {len(train_stream):,} train tokens, "
         f"{len(held_stream):,} held-out tokens "
         f"({sum(map(len, train_texts)) / len(train_stream):.2f} chars/token)")

    tspec, dspec = cfg["target_train"], cfg["draft_train"]
    max_pos = 4096
    t_args = model_args(cfg["target"], vocab, max_pos)
    d_args = model_args(cfg["draft"], vocab, max_pos)
    target, draft = Model(t_args), Model(d_args)
    mx.eval(target.parameters(), draft.parameters())
    log(f"target {n_params(target):,} params, draft {n_params(draft):,} params")

    if args.minutes is not None:
        # Time 3 steps on a throwaway model (includes compilation, so it errs long).
        probe = TrainSpec(**{**asdict(tspec), "steps": 3})
        t0 = time.perf_counter()
        train_target(Model(t_args), train_stream, probe, np.random.default_rng(0))
        t_step = (time.perf_counter() - t0) / 3
        # Draft step = target forward + small backward; ~0.6x a target step per token.
        d_step = t_step * 0.6 * dspec.batch / tspec.batch
        _fit_budget(cfg, args.minutes, t_step, d_step, time.perf_counter() - t_start)

    if args.reuse_target:
        target = loaded_target
        target.set_dtype(mx.float32)
        tspec = TrainSpec(**{**asdict(tspec), "steps": old_report["target_steps"]})
        t_losses = [old_report["target"]["final_train"]]
        t_target_min = old_report["target"]["minutes"]
        t_held = old_report["target"]["heldout"]
        log(f"reusing target from {target_dir} (held-out loss {t_held:.3f})")
    else:
        t0 = time.perf_counter()
        t_losses = train_target(target, train_stream, tspec, rng)
        t_target_min = (time.perf_counter() - t0) / 60
        t_held = eval_loss(target, held_stream, tspec.seq_len)
        log(f"target held-out loss {t_held:.3f} ({t_target_min:.1f} min)")

    t0 = time.perf_counter()
    generated = generate_from_target(target, train_stream, rng, cfg["gen_sequences"], cfg["gen_tokens"])
    log(f"generated {generated.size:,} target tokens ({time.perf_counter() - t0:.0f}s)")

    t0 = time.perf_counter()
    d_losses = distill_draft(draft, target, train_stream, generated, dspec, rng)
    t_draft_min = (time.perf_counter() - t0) / 60
    d_held = eval_loss(draft, held_stream, dspec.seq_len)
    held_gen = generate_from_target(target, held_stream, np.random.default_rng(args.seed + 2),
                                    32, min(cfg["gen_tokens"], 128))
    agreement = greedy_agreement(draft, target, held_gen)
    log(f"draft held-out loss {d_held:.3f}, greedy agreement {agreement:.3f} "
         f"({t_draft_min:.1f} min)")

    # --out / --prompts-out only choose where results go, so the card states the
    # command that reproduces them in place.
    cmd = "uv run python -m specdec_course.training.main" + "".join(
        f" {a}" for a in without_options(argv if argv is not None else sys.argv[1:],
                                         valued=["--out", "--prompts-out"]))
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "vocab": vocab,
        "eos_id": tokenizer.eos_token_id,
        "seq_len": tspec.seq_len,
        "n_train_files": len(train_texts),
        "n_heldout_files": len(held_texts),
        "train_tokens": int(len(train_stream)),
        "heldout_tokens": int(len(held_stream)),
        "target_steps": tspec.steps, "target_batch": tspec.batch, "target_lr": tspec.lr,
        "draft_steps": dspec.steps, "draft_batch": dspec.batch, "draft_lr": dspec.lr,
        "gen_sequences": cfg["gen_sequences"], "gen_tokens": cfg["gen_tokens"],
        "agreement": agreement,
        "target": {"final_train": float(np.mean(t_losses[-25:])), "heldout": t_held,
                   "minutes": t_target_min},
        "draft": {"final_train": float(np.mean(d_losses[-25:])), "heldout": d_held,
                  "minutes": t_draft_min},
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores",
        "command": cmd,
        "seed": args.seed,
    }

    sizes = {}
    for name, role, model, margs, spec in [
        (TARGET_NAME, "target", target, t_args, cfg["target"]),
        (DRAFT_NAME, "draft", draft, d_args, cfg["draft"]),
    ]:
        path = args.out / name
        sizes[role] = save_model(model, margs, tokenizer, path)
        report[f"{role}_params"] = n_params(model)
        report[f"{role}_mb"] = sizes[role]
    report["total_minutes"] = (time.perf_counter() - t_start) / 60
    if args.reuse_target:
        # Charge the reused target's training time so the card states what a
        # from-scratch run with these settings costs.
        report["total_minutes"] += old_report["target"]["minutes"]
        report["reused_target_from"] = old_report["command"]
    for name, role, spec in [(TARGET_NAME, "target", cfg["target"]), (DRAFT_NAME, "draft", cfg["draft"])]:
        card = model_card(name, role, spec, report[f"{role}_params"], report[f"{role}_mb"], report)
        (args.out / name / "README.md").write_text(card)
    (args.out / "training_report.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"saved to {args.out} (target {sizes['target']:.1f} MB, draft {sizes['draft']:.1f} MB); "
         f"total {report['total_minutes']:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
