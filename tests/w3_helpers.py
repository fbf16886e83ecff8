"""Shared helpers for the Week 3 tests: batch-aware toy models and near-tie-aware references.

The Week 1 toy models read positions from ``cache[0].offset`` (an int), which a
ragged batch does not have. The models here instead take their *history* from
the attention mask the cache builds, so they see exactly what a transformer's
attention would see: padding or a stale (rejected) token that leaks into the
mask leaks into their output too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models.cache import KVCache

from specdec_course.testing import LOG_ZERO
from specdec_course.testing.guards import refuse_empty, refuse_other_batch


class _HistoryModel(nn.Module):
    """Writes token ids into its caches' keys and reads back what each query may attend to."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.layers = [nn.Module()]

    def make_cache(self) -> list[KVCache]:
        return [KVCache()]

    def __call__(self, inputs: mx.array, cache: list[Any] | None = None) -> mx.array:
        assert isinstance(inputs, mx.array) and inputs.ndim == 2, (
            f"models take token ids of shape (B, L), got {getattr(inputs, 'shape', inputs)}"
        )
        refuse_empty(inputs, type(self).__name__)
        refuse_other_batch(inputs, cache, type(self).__name__)
        tokens = np.array(inputs).astype(np.int64)
        assert tokens.size == 0 or (tokens.min() >= 0 and tokens.max() < self.vocab_size), (
            f"token id outside [0, {self.vocab_size}) fed to the model: {tokens.tolist()}"
            + (
                " (-1 is batched_verify's placeholder: emit only tokens[b, :n_b + 1])"
                if tokens.size and tokens.min() == -1
                else ""
            )
        )
        batch, length = tokens.shape
        layer = cache[0] if cache else None
        mask = None
        if layer is not None and hasattr(layer, "valid"):
            mask = np.array(layer.make_mask(length))[:, 0]  # (B, L, S + L)
        ids = mx.array(tokens.astype(np.float32)).reshape(batch, 1, length, 1)
        if layer is None:
            keys = tokens
        else:
            keys = np.array(layer.update_and_fetch(ids, ids)[0]).reshape(batch, -1).astype(np.int64)
        if mask is None:  # a plain KVCache: everything before the query is visible
            total = keys.shape[1]
            mask = np.tril(np.ones((length, total), bool), k=total - length)[None].repeat(batch, 0)
        logits = np.zeros((batch, length, self.vocab_size), np.float32)
        for b in range(batch):
            for j in range(length):
                logits[b, j] = self.next_logits(keys[b][mask[b, j]].tolist())
        return mx.array(logits)

    def next_logits(self, history: list[int]) -> np.ndarray:
        raise NotImplementedError


class HistoryScripted(_HistoryModel):
    """Greedy choice ``script(history)`` with logit 20 (others 0): no near-ties anywhere.

    ``history`` is every token the query can attend to, itself included.
    """

    def __init__(self, vocab_size: int, script: Callable[[list[int]], int]):
        super().__init__(vocab_size)
        object.__setattr__(self, "_script", script)

    def next_logits(self, history: list[int]) -> np.ndarray:
        out = np.zeros(self.vocab_size, np.float32)
        out[self._script(history)] = 20.0
        return out

    def greedy(self, prompt: list[int], n: int, eos: int | None = None) -> list[int]:
        """The exact greedy continuation, computed from the script alone."""
        seq, out = list(prompt), []
        while len(out) < n:
            t = self._script(seq)
            out.append(t)
            seq.append(t)
            if t == eos:
                break
        return out


class BatchMarkov(_HistoryModel):
    """``MarkovModel`` for ragged batches: the logits depend only on the current token."""

    def __init__(self, probs: np.ndarray):
        super().__init__(probs.shape[0])
        with np.errstate(divide="ignore"):
            table = np.maximum(np.log(probs), LOG_ZERO).astype(np.float32)
        object.__setattr__(self, "_table", table)

    def next_logits(self, history: list[int]) -> np.ndarray:
        return self._table[history[-1]]


def history_hash(vocab: int, salt: int = 0) -> Callable[[list[int]], int]:
    """A script whose choice depends on the whole history (every token and its position)."""

    def script(history: list[int]) -> int:
        h = salt + 7 * len(history)
        for i, t in enumerate(history):
            h = (h * 31 + (i + 1) * (t + 3)) % 1_000_003
        return h % vocab

    return script


def sometimes_wrong(script: Callable[[list[int]], int], vocab: int, every: int) -> Callable:
    """A draft script: ``script`` except at histories whose hash is 0 mod ``every``."""
    other = history_hash(vocab, salt=99)

    def draft(history: list[int]) -> int:
        t = script(history)
        return (t + 1) % vocab if other(history) % every == 0 else t

    return draft


class BatchCounting:
    """Counts forward passes of any model: batch size and length of every call."""

    def __init__(self, model: Any):
        self._inner = model
        self.shapes: list[tuple[int, int]] = []

    @property
    def calls(self) -> int:
        return len(self.shapes)

    def __call__(self, inputs: mx.array, *args: Any, **kwargs: Any) -> mx.array:
        self.shapes.append((int(inputs.shape[0]), int(inputs.shape[1])))
        return self._inner(inputs, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)


def cut_at_eos(tokens: list[int], stop: set[int]) -> list[int]:
    """``tokens`` up to and including the first one in ``stop``."""
    for i, t in enumerate(tokens):
        if t in stop:
            return tokens[: i + 1]
    return tokens


def exact_verify_law(drafts: Any, p: np.ndarray, q: np.ndarray, count: int) -> dict:
    """Exact law of (accepted n, token at position n) of one row's verification.

    Leviathan et al. over the row's first ``count`` drafts: accept ``d_i`` with probability
    ``min(1, p_i(d) / q_i(d))``, draw from ``max(0, p_i - q_i)`` normalised at the first
    rejection, and the bonus from ``p_count`` after full acceptance.
    """
    dist, reach = {}, 1.0
    for i in range(count):
        d = drafts[i]
        alpha = 0.0 if q[i, d] == 0 else min(1.0, p[i, d] / q[i, d])
        residual = np.maximum(p[i] - q[i], 0.0)
        if residual.sum() > 1e-12:
            for t, r in enumerate(residual / residual.sum()):
                if r > 0:
                    dist[(i, t)] = dist.get((i, t), 0.0) + reach * (1 - alpha) * r
        reach *= alpha
    for t, r in enumerate(p[count]):
        if r > 0:
            dist[(count, t)] = dist.get((count, t), 0.0) + reach * r
    return dist


def first_difference(a: list[int], b: list[int]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def ragged_prompts(batch: int, vocab: int, seed: int, longest: int = 45) -> list[list[int]]:
    """``batch`` prompts of lengths spread over 1 .. ``longest`` (row 0 has length 1)."""
    rng = np.random.default_rng(seed)
    lengths = [1] + rng.integers(1, longest + 1, size=batch - 1).tolist()
    if batch > 2:
        lengths[1] = longest
    return [rng.integers(0, vocab, size=n).tolist() for n in lengths]


def clear_ragged_prompts(
    model: Any, batch: int, n: int, seed: int, longest: int = 45
) -> tuple[list[list[int]], list[list[int]]]:
    """Ragged prompts whose target-only greedy runs of ``n`` tokens have no near-tie.

    Lengths as in :func:`ragged_prompts`; for each row, candidate prompts of that
    length are drawn (deterministically) until the model's greedy continuation has
    a clear winner at every step (``mlx_lm_greedy`` refuses near-ties), so any
    correct decoder must reproduce it exactly on any backend and batch shape.

    Returns:
        ``(prompts, continuations)``.
    """
    from specdec_course.testing.ties import NearTieError
    from tests.w1_helpers import mlx_lm_greedy

    rng = np.random.default_rng([seed, 77])
    prompts, wants = [], []
    for length in (len(p) for p in ragged_prompts(batch, 64, seed, longest)):
        for _ in range(50):
            prompt = rng.integers(0, model.args.vocab_size, size=length).tolist()
            try:
                wants.append(mlx_lm_greedy(model, prompt, n))
            except NearTieError:
                continue
            prompts.append(prompt)
            break
        else:
            raise RuntimeError(f"test setup: no clear prompt of length {length} in 50 tries")
    return prompts, wants


def greedy_verify_law(drafts: list[int], target_rows: Any) -> tuple[int, list[int]]:
    """Greedy verification by its definition: (accepted, emitted tokens).

    Accept the longest prefix of ``drafts`` equal to the target's argmax at each position, then
    emit the target's argmax after it (the correction, or the bonus after full acceptance).
    ``target_rows`` is ``(len(drafts) + 1, V)``. Independent of the student's Week 1 code, so a
    Week 3 test that compares with it never blames a Week 1 bug on the batched code.
    """
    best = np.argmax(np.asarray(target_rows, dtype=np.float64), axis=-1).tolist()
    n = 0
    while n < len(drafts) and drafts[n] == best[n]:
        n += 1
    return n, list(drafts[:n]) + [int(best[n])]


def greedy_speculation(
    draft: Any, target: Any, prompt: list[int], n: int, k: int
) -> tuple[list[int], list[int], list[int]]:
    """Greedy speculative decoding by its definition: (tokens, accepted and drafted per round).

    Uncached full passes and no student code. Each round drafts ``min(k, n - len(tokens) - 1)``
    tokens by the draft's argmax (never past ``n``), then applies :func:`greedy_verify_law` to
    one target pass. Every draft choice and every target choice must have a clear winner
    (:class:`~specdec_course.testing.ties.NearTieError` otherwise), so the counts per round do
    not depend on the backend's rounding.
    """
    from specdec_course.testing.ties import greedy_margins

    tokens: list[int] = []
    accepted: list[int] = []
    drafted: list[int] = []
    while len(tokens) < n:
        kk = min(k, n - len(tokens) - 1)
        context = prompt + tokens
        drafts: list[int] = []
        for _ in range(kk):
            row = draft(mx.array(context + drafts)[None])[0, -1]
            greedy_margins([row], what=f"the draft after {len(context + drafts)} tokens")
            drafts.append(int(mx.argmax(row)))
        rows = target(mx.array(context + drafts)[None])[0, len(context) - 1 :]
        a, emitted = greedy_verify_law(drafts, np.array(rows.astype(mx.float32)))
        greedy_margins([rows[i] for i in range(a + 1)], what="the target's verify pass")
        tokens += emitted
        accepted.append(a)
        drafted.append(kk)
    return tokens, accepted, drafted
