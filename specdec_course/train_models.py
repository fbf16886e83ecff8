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

Run ``python -m specdec_course.train_models --help`` (or ``specdec
train-models``). ``--quick`` is a sub-minute smoke run into a temp directory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import sysconfig
import time
import zlib
from dataclasses import dataclass, asdict
from functools import partial
from pathlib import Path
from typing import Any, Callable

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from mlx_lm.models.llama import Model, ModelArgs

from specdec_course.cmdline import without_options

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROMPTS_PATH = Path(__file__).resolve().parent / "data" / "heldout_prompts.json"
EOS_TOKEN = "<|endoftext|>"
TARGET_NAME = "specdec-target"
DRAFT_NAME = "specdec-draft"
# Stored in bfloat16 to halve the checkout size; specdec_course.models upcasts
# to float32 at load time because half precision is 2-5x slower on MLX's CPU
# backend (measured: 6x384 target 8.5 ms/token in fp32 vs 15.6 in bf16).
SAVE_DTYPE = mx.bfloat16


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


@dataclass
class ModelSpec:
    """Shape of one llama model (maps 1:1 onto mlx-lm ``ModelArgs``)."""

    layers: int
    hidden: int
    heads: int
    ffn: int


@dataclass
class TrainSpec:
    """Optimisation settings for one training phase."""

    steps: int
    batch: int
    seq_len: int
    lr: float
    warmup: int
    weight_decay: float = 0.1


FULL = {
    "vocab": 2048,
    "target": ModelSpec(layers=12, hidden=384, heads=6, ffn=1024),
    "draft": ModelSpec(layers=1, hidden=256, heads=4, ffn=768),
    "target_train": TrainSpec(steps=500, batch=8, seq_len=256, lr=1.5e-3, warmup=40),
    "draft_train": TrainSpec(steps=250, batch=16, seq_len=256, lr=3e-3, warmup=20),
    "gen_sequences": 256,
    "gen_tokens": 192,
    "tokenizer_files": 10_000,
}

QUICK = {
    "vocab": 512,
    "target": ModelSpec(layers=2, hidden=64, heads=2, ffn=128),
    "draft": ModelSpec(layers=1, hidden=32, heads=1, ffn=64),
    "target_train": TrainSpec(steps=10, batch=4, seq_len=64, lr=3e-3, warmup=2),
    "draft_train": TrainSpec(steps=10, batch=4, seq_len=64, lr=3e-3, warmup=2),
    "gen_sequences": 8,
    "gen_tokens": 32,
    "tokenizer_files": 40,
}


def model_args(spec: ModelSpec, vocab: int, max_pos: int) -> ModelArgs:
    """Build mlx-lm ``ModelArgs`` for a llama of the given shape."""
    return ModelArgs(
        model_type="llama",
        hidden_size=spec.hidden,
        num_hidden_layers=spec.layers,
        intermediate_size=spec.ffn,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        rms_norm_eps=1e-5,
        vocab_size=vocab,
        max_position_embeddings=max_pos,
        rope_theta=10000.0,
        tie_word_embeddings=True,
    )


# --------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------

_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def stdlib_files() -> list[Path]:
    """Return the running interpreter's stdlib ``.py`` files, sorted, tests excluded."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS for part in rel.parts[:-1]):
            continue
        if rel.name.startswith("test_"):
            continue
        files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def split_files(files: list[Path], seed: int, heldout_frac: float = 0.05) -> tuple[list[Path], list[Path]]:
    """Deterministically hold out whole files (hash of seed and path, not RNG order)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    train, held = [], []
    for f in files:
        key = f"{seed}:{f.relative_to(root).as_posix()}".encode()
        (held if zlib.crc32(key) % 1000 < heldout_frac * 1000 else train).append(f)
    return train, held


def read_text(path: Path) -> str | None:
    """Read a source file as UTF-8, skipping the few that are not."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    # Tabs and CRLF are rare in the stdlib; normalising keeps the vocab for code.
    return text.replace("\r\n", "\n")


def make_prompts(held: list[Path], rng: np.random.Generator, n: int = 16) -> list[str]:
    """Pick ``n`` short code prefixes (1-6 lines, no trailing newline) from held-out files."""
    prompts: list[str] = []
    order = rng.permutation(len(held))
    for idx in order:
        text = read_text(held[idx])
        if not text:
            continue
        lines = text.split("\n")
        starts = [i for i, ln in enumerate(lines) if ln.lstrip().startswith(("def ", "class "))]
        if not starts:
            continue
        start = starts[int(rng.integers(len(starts)))]
        n_lines = int(rng.integers(1, 7))
        indent = len(lines[start]) - len(lines[start].lstrip())
        chunk = [lines[start]]
        for ln in lines[start + 1 : start + n_lines]:
            # Stop at a dedent: the prefix must stay valid code once dedented.
            if ln.strip() and len(ln) - len(ln.lstrip()) < indent:
                break
            chunk.append(ln)
        # Drop trailing blank lines so the model continues real code.
        while chunk and not chunk[-1].strip():
            chunk.pop()
        prompt = "\n".join(chunk) + "\n"
        if not chunk or len(prompt) > 400:
            continue
        # Dedent to column 0 so prompts look like fresh top-level snippets. No
        # trailing newline: byte-level BPE merges "\n" with the next line's
        # indentation, so a prompt ending in a bare "\n" token is off-distribution.
        prompt = "\n".join(ln[indent:] for ln in chunk)
        prompts.append(prompt)
        if len(prompts) == n:
            break
    return prompts


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------


def train_tokenizer(texts: list[str], vocab: int) -> Any:
    """Train a byte-level BPE; returns a ``transformers.PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        bos_token=None,
        pad_token=EOS_TOKEN,
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
    sample = "class A:\n    def f(self, x):\n\t\treturn x  # tab\n\n\n    x = '\u00e9'\n"
    ids = fast.encode(sample)
    if fast.decode(ids) != sample:
        raise RuntimeError("tokenizer does not round-trip indentation/newlines")
    return fast


def encode_stream(tokenizer: Any, texts: list[str]) -> np.ndarray:
    """Concatenate tokenised files, each followed by EOS, into one int32 array."""
    eos = tokenizer.eos_token_id
    enc = tokenizer.backend_tokenizer.encode_batch(texts)
    parts = []
    for e in enc:
        parts.append(np.asarray(e.ids, dtype=np.int32))
        parts.append(np.asarray([eos], dtype=np.int32))
    return np.concatenate(parts)


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def lr_schedule(spec: TrainSpec) -> Callable[[mx.array], mx.array]:
    """Linear warm-up then cosine decay to 10% of the peak learning rate."""
    warm = optim.linear_schedule(spec.lr * 0.01, spec.lr, spec.warmup)
    cos = optim.cosine_decay(spec.lr, max(spec.steps - spec.warmup, 1), spec.lr * 0.1)
    return optim.join_schedules([warm, cos], [spec.warmup])


def sample_windows(stream: np.ndarray, rng: np.random.Generator, batch: int, seq_len: int) -> np.ndarray:
    """Random contiguous windows of ``seq_len + 1`` tokens (inputs plus shifted labels)."""
    starts = rng.integers(0, len(stream) - seq_len - 1, size=batch)
    return np.stack([stream[s : s + seq_len + 1] for s in starts])


def eval_loss(model: nn.Module, stream: np.ndarray, seq_len: int, n_windows: int = 24) -> float:
    """Mean next-token cross-entropy on evenly spaced windows (deterministic)."""
    starts = np.linspace(0, len(stream) - seq_len - 2, n_windows).astype(np.int64)
    total = 0.0
    for i in range(0, n_windows, 8):
        w = mx.array(np.stack([stream[s : s + seq_len + 1] for s in starts[i : i + 8]]))
        logits = model(w[:, :-1])
        total += nn.losses.cross_entropy(logits, w[:, 1:]).mean().item() * len(starts[i : i + 8])
    return total / n_windows


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def train_target(
    model: nn.Module, stream: np.ndarray, spec: TrainSpec, rng: np.random.Generator
) -> list[float]:
    """Plain next-token cross-entropy training; returns the per-step losses."""
    opt = optim.AdamW(learning_rate=lr_schedule(spec), weight_decay=spec.weight_decay)

    def loss_fn(m: nn.Module, x: mx.array, y: mx.array) -> mx.array:
        return nn.losses.cross_entropy(m(x), y).mean()

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x: mx.array, y: mx.array) -> mx.array:
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        return loss

    losses: list[float] = []
    t0 = time.perf_counter()
    for i in range(spec.steps):
        w = mx.array(sample_windows(stream, rng, spec.batch, spec.seq_len))
        loss = step(w[:, :-1], w[:, 1:])
        mx.eval(loss, state)
        losses.append(loss.item())
        if i % 25 == 0 or i == spec.steps - 1:
            _log(f"target step {i:4d}/{spec.steps} loss {np.mean(losses[-25:]):.3f} "
                 f"({time.perf_counter() - t0:.0f}s)")
    return losses


def generate_from_target(
    model: nn.Module, stream: np.ndarray, rng: np.random.Generator, n_seq: int, n_tokens: int,
    prefix_len: int = 32, batch: int = 32,
) -> np.ndarray:
    """Let the target continue corpus prefixes, half greedily and half at temperature 1.

    The draft is scored on text the *target* produces, which is more repetitive
    than human code; showing it such text during distillation is cheap (batched
    decoding) and raises acceptance on exactly the distribution that matters.
    """
    from mlx_lm.models.cache import make_prompt_cache

    out = []
    for b in range(0, n_seq, batch):
        nb = min(batch, n_seq - b)
        prefix = mx.array(sample_windows(stream, rng, nb, prefix_len - 1))
        cache = make_prompt_cache(model)
        logits = model(prefix, cache=cache)[:, -1, :]
        toks = [prefix]
        greedy = (b // batch) % 2 == 0
        for _ in range(n_tokens):
            nxt = mx.argmax(logits, axis=-1) if greedy else mx.random.categorical(logits)
            nxt = nxt[:, None].astype(mx.int32)
            toks.append(nxt)
            logits = model(nxt, cache=cache)[:, -1, :]
            mx.eval(logits)
        out.append(np.array(mx.concatenate(toks, axis=1)))
    return np.concatenate(out)


def distill_draft(
    draft: nn.Module, target: nn.Module, stream: np.ndarray, generated: np.ndarray,
    spec: TrainSpec, rng: np.random.Generator,
) -> list[float]:
    """Train the draft to match the target's next-token distribution (forward KL).

    Half of every batch is corpus text, half is target-generated text; the
    target's logits are recomputed on the fly (cheaper than storing V floats
    per position).
    """
    opt = optim.AdamW(learning_rate=lr_schedule(spec), weight_decay=spec.weight_decay)
    target.freeze()

    def loss_fn(m: nn.Module, x: mx.array, teacher_logprobs: mx.array) -> mx.array:
        logits = m(x)
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        return (mx.exp(teacher_logprobs) * (teacher_logprobs - logp)).sum(-1).mean()

    state = [draft.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x: mx.array) -> mx.array:
        t_logits = mx.stop_gradient(target(x))
        t_logp = t_logits - mx.logsumexp(t_logits, axis=-1, keepdims=True)
        loss, grads = nn.value_and_grad(draft, loss_fn)(draft, x, t_logp)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(draft, grads)
        return loss

    half = spec.batch // 2
    gen_len = generated.shape[1]
    losses: list[float] = []
    t0 = time.perf_counter()
    for i in range(spec.steps):
        corpus = sample_windows(stream, rng, spec.batch - half, spec.seq_len - 1)
        rows = rng.integers(0, len(generated), size=half)
        if gen_len >= spec.seq_len:
            offs = rng.integers(0, gen_len - spec.seq_len + 1, size=half)
            gen = np.stack([generated[r, o : o + spec.seq_len] for r, o in zip(rows, offs)])
        else:  # quick mode: pad short generations by tiling
            gen = np.tile(generated[rows], (1, math.ceil(spec.seq_len / gen_len)))[:, : spec.seq_len]
        x = mx.array(np.concatenate([corpus, gen]).astype(np.int32))
        loss = step(x)
        mx.eval(loss, state)
        losses.append(loss.item())
        if i % 25 == 0 or i == spec.steps - 1:
            _log(f"draft  step {i:4d}/{spec.steps} KL {np.mean(losses[-25:]):.3f} "
                 f"({time.perf_counter() - t0:.0f}s)")
    return losses


def greedy_agreement(draft: nn.Module, target: nn.Module, generated: np.ndarray) -> float:
    """Fraction of positions where draft and target argmax agree (teacher-forced).

    A cheap proxy for the greedy acceptance rate alpha; the real figure comes
    from ``specdec_course.mlxlm_speed``.
    """
    x = mx.array(generated[:, :-1].astype(np.int32))
    agree = (mx.argmax(draft(x), -1) == mx.argmax(target(x), -1)).astype(mx.float32)
    return agree[:, 32:].mean().item()


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------


def n_params(model: nn.Module) -> int:
    """Number of parameters (tied embeddings counted once)."""
    return sum(v.size for _, v in tree_flatten(model.parameters()))


def save_model(model: nn.Module, args: ModelArgs, tokenizer: Any, path: Path) -> float:
    """Write an mlx-lm loadable directory; returns the weights' size in MB."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    weights = {k: v.astype(SAVE_DTYPE) for k, v in tree_flatten(model.parameters())}
    mx.save_safetensors(str(path / "model.safetensors"), weights, metadata={"format": "mlx"})
    config = asdict(args)
    config["torch_dtype"] = "bfloat16"
    config["eos_token_id"] = tokenizer.eos_token_id
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokenizer.save_pretrained(str(path))
    # transformers 5 writes "TokenizersBackend", which transformers 4.x cannot
    # resolve; the classic class name loads everywhere.
    tok_cfg_path = path / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text())
    tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_cfg.pop("backend", None)
    tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2) + "\n")
    return (path / "model.safetensors").stat().st_size / 1e6


def model_card(
    name: str, role: str, spec: ModelSpec, params: int, size_mb: float, report: dict[str, Any]
) -> str:
    """Render the README.md model card for one of the two models."""
    r = report
    losses = r[role]
    lines = [
        f"# {name}",
        "",
        f"The **{role}** model of the `specdec` course's bundled pair "
        f"(`{TARGET_NAME}` + `{DRAFT_NAME}`). A tiny mlx-lm `llama` trained from scratch "
        "on Python source so that speculative decoding can be measured on a laptop CPU.",
        f"It is heavily under-trained (the target saw about "
        f"{r['target_steps'] * r['target_batch'] * r['seq_len'] / 1e6:.1f}M training tokens on a "
        "2-core CPU): its output "
        "looks like Python line by line, but greedy decoding soon falls into loops (repeated "
        "docstring quotes, `self.get_name`...). Good for measuring speculative decoding; not "
        "useful for anything else.",
        "",
        "## Model",
        "",
        f"- architecture: mlx-lm `llama`, {spec.layers} layer(s), hidden {spec.hidden}, "
        f"{spec.heads} heads, MLP {spec.ffn}, tied embeddings",
        f"- parameters: {params:,} ({size_mb:.1f} MB on disk, bfloat16; "
        "`specdec_course.models.load_pair` upcasts to float32 because half precision "
        "is much slower on MLX's CPU backend)",
        f"- context used in training: {r['seq_len']} tokens",
        "",
        "## Tokenizer",
        "",
        f"Byte-level BPE ({r['vocab']} entries incl. `{EOS_TOKEN}` = EOS, id {r['eos_id']}), "
        "trained with HuggingFace `tokenizers` on the training split; shared by both models "
        "(identical `tokenizer.json`). Round-trips indentation, tabs and newlines exactly.",
        "",
        "## Data",
        "",
        f"The `.py` files of the CPython {r['python']} standard library "
        f"({r['n_train_files']} training files, {r['train_tokens']:,} tokens; "
        f"{r['n_heldout_files']} whole files held out, {r['heldout_tokens']:,} tokens). "
        "`test/`, `tests/`, `idle_test/` and `site-packages` were excluded.",
        "",
    ]
    if role == "target":
        lines += [
            "## Training",
            "",
            f"Next-token cross-entropy, AdamW (weight decay 0.1), warm-up + cosine schedule, "
            f"peak LR {r['target_lr']}, {r['target_steps']} steps of {r['target_batch']} x "
            f"{r['seq_len']} tokens ({r['target_steps'] * r['target_batch'] * r['seq_len']:,} "
            "tokens seen).",
        ]
    else:
        lines += [
            "## Training",
            "",
            "Distilled from the target (forward KL to the target's full next-token "
            "distribution), half corpus text and half text generated by the target "
            f"({r['gen_sequences']} continuations of {r['gen_tokens']} tokens, half greedy "
            f"and half sampled at T=1). {r['draft_steps']} steps of {r['draft_batch']} x "
            f"{r['seq_len']} tokens, peak LR {r['draft_lr']}.",
            f"Greedy agreement with the target (teacher-forced, on target-generated text): "
            f"{r['agreement']:.3f}.",
        ]
    lines += [
        "",
        f"- final training loss (mean of last 25 steps): {losses['final_train']:.3f}"
        + (" (KL to target, nats)" if role == "draft" else " (nats/token)"),
        f"- held-out cross-entropy on unseen stdlib files: {losses['heldout']:.3f} nats/token",
        f"- wall-clock for the whole pipeline (both models): {r['total_minutes']:.1f} min on "
        f"{r['machine']}",
        "",
        "Reproduce (bit-for-bit only on the same platform and library versions):",
        "",
        "```",
        r["command"],
        "```",
        "",
        "## Licence",
        "",
        "Training data: CPython standard library source, (c) Python Software Foundation, "
        "under the PSF License Agreement. The weights and tokenizer are released under the "
        "same MIT licence as the course.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Command-line options for ``specdec train-models``."""
    p = argparse.ArgumentParser(
        prog="specdec train-models",
        description="Train the bundled draft/target pair on the Python standard library.",
    )
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: <repo>/models, or a temp dir with --quick)")
    p.add_argument("--prompts-out", type=Path, default=None,
                   help=f"held-out prompts JSON (default: {DEFAULT_PROMPTS_PATH.relative_to(REPO_ROOT)};"
                        " not written with --quick unless given)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny smoke run (<1 minute)")
    p.add_argument("--target-steps", type=int, default=None)
    p.add_argument("--draft-steps", type=int, default=None)
    p.add_argument("--reuse-target", action="store_true",
                   help="keep the target already in --out and retrain only the draft "
                        "(for iterating on distillation; not bit-identical to a full run)")
    p.add_argument("--minutes", type=float, default=None,
                   help="scale both step counts so the run fits this wall-clock budget "
                        "(estimated from the first steps; makes the run machine-dependent)")
    return p


def _fit_budget(cfg: dict[str, Any], minutes: float, t_target_step: float, t_draft_step: float,
                spent: float) -> None:
    """Shrink step counts proportionally so the remaining phases fit ``minutes``."""
    left = minutes * 60 - spent
    need = cfg["target_train"].steps * t_target_step + cfg["draft_train"].steps * t_draft_step
    if need > left > 0:
        scale = left / need
        cfg["target_train"].steps = max(10, int(cfg["target_train"].steps * scale))
        cfg["draft_train"].steps = max(10, int(cfg["draft_train"].steps * scale))
        _log(f"--minutes {minutes}: scaled steps to target {cfg['target_train'].steps}, "
             f"draft {cfg['draft_train'].steps}")


def main(argv: list[str] | None = None) -> int:
    """Train tokenizer, target and draft; write ``models/`` and the held-out prompts."""
    args = build_parser().parse_args(argv)
    if argv is None:
        # Run as a module: training with the reference BLAS would take hours.
        from specdec_course.blas import ensure_fast_blas

        ensure_fast_blas([sys.executable, "-m", "specdec_course.train_models", *sys.argv[1:]])
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

    from specdec_course.blas import blas_name

    _log(f"BLAS: {blas_name()}")

    mx.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)

    files = stdlib_files()
    train_files, held_files = split_files(files, args.seed)
    if args.quick:
        train_files, held_files = train_files[:40], held_files[:8]
    train_texts = [t for t in map(read_text, train_files) if t]
    held_texts = [t for t in map(read_text, held_files) if t]
    _log(f"corpus: {len(train_texts)} train files, {len(held_texts)} held-out files")

    prompts = make_prompts(held_files, np.random.default_rng(args.seed + 1))
    if prompts_out is not None:
        prompts_out.parent.mkdir(parents=True, exist_ok=True)
        prompts_out.write_text(json.dumps(prompts, indent=2) + "\n")
        _log(f"wrote {len(prompts)} held-out prompts to {prompts_out}")

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
    _log(f"tokenizer: vocab {vocab}, {len(train_stream):,} train tokens, "
         f"{len(held_stream):,} held-out tokens "
         f"({sum(map(len, train_texts)) / len(train_stream):.2f} chars/token)")

    tspec, dspec = cfg["target_train"], cfg["draft_train"]
    max_pos = 4096
    t_args = model_args(cfg["target"], vocab, max_pos)
    d_args = model_args(cfg["draft"], vocab, max_pos)
    target, draft = Model(t_args), Model(d_args)
    mx.eval(target.parameters(), draft.parameters())
    _log(f"target {n_params(target):,} params, draft {n_params(draft):,} params")

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
        _log(f"reusing target from {target_dir} (held-out loss {t_held:.3f})")
    else:
        t0 = time.perf_counter()
        t_losses = train_target(target, train_stream, tspec, rng)
        t_target_min = (time.perf_counter() - t0) / 60
        t_held = eval_loss(target, held_stream, tspec.seq_len)
        _log(f"target held-out loss {t_held:.3f} ({t_target_min:.1f} min)")

    t0 = time.perf_counter()
    generated = generate_from_target(target, train_stream, rng, cfg["gen_sequences"], cfg["gen_tokens"])
    _log(f"generated {generated.size:,} target tokens ({time.perf_counter() - t0:.0f}s)")

    t0 = time.perf_counter()
    d_losses = distill_draft(draft, target, train_stream, generated, dspec, rng)
    t_draft_min = (time.perf_counter() - t0) / 60
    d_held = eval_loss(draft, held_stream, dspec.seq_len)
    held_gen = generate_from_target(target, held_stream, np.random.default_rng(args.seed + 2),
                                    32, min(cfg["gen_tokens"], 128))
    agreement = greedy_agreement(draft, target, held_gen)
    _log(f"draft held-out loss {d_held:.3f}, greedy agreement {agreement:.3f} "
         f"({t_draft_min:.1f} min)")

    # --out / --prompts-out only choose where results go, so the card states the
    # command that reproduces them in place.
    cmd = "uv run python -m specdec_course.train_models" + "".join(
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
    _log(f"saved to {args.out} (target {sizes['target']:.1f} MB, draft {sizes['draft']:.1f} MB); "
         f"total {report['total_minutes']:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
