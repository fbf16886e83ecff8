"""Training the target, distilling the draft, measuring agreement."""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Callable

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from specdec_course.training.config import TrainSpec

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


def log(msg: str) -> None:
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
            log(f"target step {i:4d}/{spec.steps} loss {np.mean(losses[-25:]):.3f} "
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
            log(f"draft  step {i:4d}/{spec.steps} KL {np.mean(losses[-25:]):.3f} "
                 f"({time.perf_counter() - t0:.0f}s)")
    return losses


def greedy_agreement(draft: nn.Module, target: nn.Module, generated: np.ndarray) -> float:
    """Fraction of positions where draft and target argmax agree (teacher-forced).

    A cheap proxy for the greedy acceptance rate alpha; the real figure comes
    from ``specdec_course.bench.mlxlm_speed``.
    """
    x = mx.array(generated[:, :-1].astype(np.int32))
    agree = (mx.argmax(draft(x), -1) == mx.argmax(target(x), -1)).astype(mx.float32)
    return agree[:, 32:].mean().item()


# --------------------------------------------------------------------------
