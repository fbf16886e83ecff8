"""KV caches for ragged batches: left padding, per-row positions, per-row rewind.

Course machinery for Week 3 (students may import it). A batch of prompts of
different lengths is stored the way mlx-lm's ``BatchKVCache`` stores it: one
shared write column for the whole batch, the prompts right-aligned (left
padding), and a per-row ``offset`` so RoPE gives every row its own positions::

    column:    0    1    2    3    4
    row 0:   pad  pad   a0   a1   a2        offset 3, left padding 2
    row 1:    b0   b1   b2   b3   b4        offset 5, left padding 0

Speculative decoding also needs to forget a *different* number of tokens in
every row after each round. ``BatchKVCache.trim(n)`` forgets the same ``n``
everywhere; moving each row's data (mlx-lm's roll idiom) costs a copy of the
whole cache per round. :class:`RaggedKVCache` instead leaves the data where it
is and marks forgotten columns as *holes* in a per-row validity mask, which
every later attention call honours::

    after rewinding row 0 by 1 and row 1 by 2, then feeding two more tokens:
    column:    0    1    2    3    4    5    6
    row 0:   pad  pad   a0   a1    .   a2'  a3'     ('.' = hole, never attended)
    row 1:    b0   b1   b2    .    .   b3'  b4'

Only columns that are holes in *every* row are dropped (the shared write
column moves back), so a rewind moves no data at all. The price: attention
also scans the holes, and the cache grows by the rejected tokens of the row
that rejected least. :func:`filter_rows` removes finished rows and drops the
columns no remaining row needs.

The caches work with any mlx-lm model whose attention takes its mask from
``cache.make_mask`` and its RoPE offset from ``cache.offset`` (Llama, Qwen,
Mistral, ... - the same models ``mlx_lm.batch_generate`` supports).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import KVCache, _BaseCache, make_prompt_cache

from specdec_course.api.validation import check_count, token_list

__all__ = [
    "RaggedKVCache",
    "budget_list",
    "check_batchable",
    "filter_rows",
    "join_rows",
    "make_ragged_cache",
    "prompt_lists",
    "rewind_rows",
]


class RaggedKVCache(_BaseCache):
    """One layer's key/value cache for a left-padded batch with per-row holes.

    Attributes:
        keys, values: ``(B, H, capacity, D)`` arrays (``None`` before the
            first call); columns ``0 .. size()-1`` are in use.
        offset: int32 ``(B,)``: each row's length in tokens (holes and
            padding not counted), i.e. the RoPE position of its next token.
            Before the first call it is ``-left_padding``, so the first real
            token of every row gets position 0 during a padded prefill.
        valid: bool ``(B, size())``: which columns a row may attend to.

    Args:
        left_padding: pad columns at the start of each row (the batch's
            first call must be left-padded by exactly these amounts).
    """

    step = 256  # columns allocated at a time, as in mlx-lm's caches

    def __init__(self, left_padding: Sequence[int]):
        pads = [int(p) for p in left_padding]
        if not pads or min(pads) < 0:
            raise ValueError(f"left_padding must be a non-empty list of ints >= 0, got {pads}")
        self.keys: mx.array | None = None
        self.values: mx.array | None = None
        self.offset = mx.array([-p for p in pads], dtype=mx.int32)
        self._pads = pads  # consumed by the first call: which columns are padding
        self.valid = mx.zeros((len(pads), 0), dtype=mx.bool_)
        self._idx = 0

    @property
    def batch_size(self) -> int:
        """Rows in the batch."""
        return int(self.offset.shape[0])

    def size(self) -> int:
        """Columns in use (padding and holes included)."""
        return self._idx

    def empty(self) -> bool:
        """True before the first call."""
        return self.keys is None

    def update_and_fetch(self, keys: mx.array, values: mx.array) -> tuple[mx.array, mx.array]:
        """Append ``L`` new columns for every row and return all columns in use.

        Args:
            keys, values: ``(B, H, L, D)`` for the tokens of this call.

        Returns:
            ``(keys, values)`` of shape ``(B, H, size(), D)``.
        """
        batch, heads, length, _ = keys.shape
        prev = self._idx
        if self.keys is None or prev + length > self.keys.shape[2]:
            # Grow in steps of `step` columns so most calls write in place.
            n_steps = (self.step + length - 1) // self.step
            k_new = mx.zeros((batch, heads, n_steps * self.step, keys.shape[3]), keys.dtype)
            v_new = mx.zeros((batch, heads, n_steps * self.step, values.shape[3]), values.dtype)
            if self.keys is None:
                self.keys, self.values = k_new, v_new
            else:
                self.keys = mx.concatenate([self.keys[..., :prev, :], k_new], axis=2)
                self.values = mx.concatenate([self.values[..., :prev, :], v_new], axis=2)
        self.keys[..., prev : prev + length, :] = keys
        self.values[..., prev : prev + length, :] = values
        fresh = mx.ones((batch, length), dtype=mx.bool_)
        if self._pads is not None:
            # The first call holds the left padding: those columns are never attended.
            fresh = mx.arange(length)[None, :] >= mx.array(self._pads)[:, None]
            self._pads = None
        self.valid = mx.concatenate([self.valid, fresh], axis=1)
        self.offset = self.offset + length
        self._idx = prev + length
        return self.keys[..., : self._idx, :], self.values[..., : self._idx, :]

    def make_mask(self, N: int, return_array: bool = False, **kwargs: Any) -> mx.array:
        """The attention mask for a call of ``N`` new tokens per row.

        Returns:
            bool ``(B, 1, N, size() + N)``: a query sees the valid old columns
            of its row and the new columns up to itself (causal). A query
            always sees itself, so a row that is pure padding in this call
            still has one column to attend to (no NaN from an empty softmax).
        """
        del return_array, kwargs  # always an array: every row has its own mask
        old = self.valid  # (B, 0) until the first call: nothing to see but the new columns
        causal = mx.tril(mx.ones((N, N), dtype=mx.bool_))
        rows = mx.broadcast_to(old[:, None, :], (self.batch_size, N, old.shape[1]))
        new = mx.broadcast_to(causal[None], (self.batch_size, N, N))
        if self._pads is not None:
            # A padded first call: real queries must not see the padding.
            real = mx.arange(N)[None, :] >= mx.array(self._pads)[:, None]
            new = (new & real[:, None, :]) | mx.eye(N, dtype=mx.bool_)[None]
        return mx.concatenate([rows, new], axis=2)[:, None]

    def rewind(self, counts: mx.array | Sequence[int]) -> None:
        """Forget the last ``counts[b]`` tokens of every row ``b``.

        The forgotten columns become holes; columns that are holes in every
        row are dropped for real. No key or value is moved.

        Args:
            counts: ints ``>= 0``, one per row, each at most the row's length.
        """
        n = mx.array(counts, dtype=mx.int32) if not isinstance(counts, mx.array) else counts
        n = n.astype(mx.int32)
        if n.shape != (self.batch_size,):
            raise ValueError(f"rewind needs one count per row ({self.batch_size}), got {n.shape}")
        # rank[b, c] = valid columns of row b at c or to its right: the last
        # n[b] valid columns are exactly those with rank <= n[b].
        valid = self.valid
        rank = mx.cumsum(valid[:, ::-1].astype(mx.int32), axis=1)[:, ::-1]
        self.valid = valid & (rank > n[:, None])
        self.offset = self.offset - n
        self._drop_dead_tail()

    def trim(self, n: int) -> int:
        """Forget the last ``n`` tokens of every row (mlx-lm's uniform trim)."""
        n = min(int(n), int(mx.min(self.offset).item()))
        self.rewind(mx.full((self.batch_size,), n, dtype=mx.int32))
        return n

    def is_trimmable(self) -> bool:
        """Always: rewinding is what this cache is for."""
        return True

    def filter(self, batch_indices: Sequence[int] | mx.array) -> None:
        """Keep only the given rows (in that order) and drop columns none of them needs."""
        idx = mx.array(batch_indices, dtype=mx.int32)
        if self.keys is not None:
            self.keys = self.keys[idx]
            self.values = self.values[idx]
        self.valid = self.valid[idx]
        self.offset = self.offset[idx]
        if self._pads is not None:
            self._pads = [self._pads[i] for i in idx.tolist()]
        self._drop_dead_head()
        self._drop_dead_tail()

    def join(self, other: RaggedKVCache) -> None:
        """Append ``other``'s rows below this cache's rows (continuous batching's admission).

        Both caches keep their own per-row offsets (RoPE positions) and masks; the
        shorter one is widened on the left with invalid columns, so no row ever
        attends to the other's data or to the widening. Either cache may be one
        that no call has touched yet (all its rows empty).
        """
        ref = self if self.keys is not None else other
        if ref.keys is None:  # neither holds data: nothing but rows to stack
            self.offset = mx.concatenate([self.offset, other.offset])
            self.valid = mx.zeros((self.batch_size, 0), dtype=mx.bool_)
            self._pads = [0] * self.batch_size  # all rows empty: a padded first call is plain
            return
        width = max(self._idx, other._idx)
        parts = [_widened(c, width, ref.keys, ref.values) for c in (self, other)]
        self.keys = mx.concatenate([parts[0][0], parts[1][0]], axis=0)
        self.values = mx.concatenate([parts[0][1], parts[1][1]], axis=0)
        self.valid = mx.concatenate([parts[0][2], parts[1][2]], axis=0)
        self.offset = mx.concatenate([self.offset, other.offset])
        self._idx = width
        self._pads = None

    def _alive(self) -> list[bool]:
        return mx.any(self.valid, axis=0).tolist() if self.valid.shape[1] else []

    def _drop_dead_tail(self) -> None:
        alive = self._alive()
        dead = 0
        while dead < len(alive) and not alive[len(alive) - 1 - dead]:
            dead += 1
        if dead:
            self._idx -= dead
            self.valid = self.valid[:, : self._idx]

    def _drop_dead_head(self) -> None:
        alive = self._alive()
        dead = 0
        while dead < len(alive) and not alive[dead]:
            dead += 1
        if dead and self.keys is not None:
            self.keys = self.keys[..., dead:, :]
            self.values = self.values[..., dead:, :]
            self.valid = self.valid[:, dead:]
            self._idx -= dead

    @property
    def state(self) -> tuple[Any, ...]:
        """Everything needed to restore the cache."""
        return self.keys, self.values, self.offset, self.valid

    @state.setter
    def state(self, v: tuple[Any, ...]) -> None:
        self.keys, self.values, self.offset, self.valid = v
        self._idx = int(self.valid.shape[1])
        self._pads = None

    @property
    def nbytes(self) -> int:
        """Bytes held by keys and values."""
        return 0 if self.keys is None else self.keys.nbytes + self.values.nbytes


def _widened(
    cache: RaggedKVCache, width: int, like_k: mx.array, like_v: mx.array
) -> tuple[mx.array, mx.array, mx.array]:
    """``cache``'s keys, values and mask left-padded with invalid columns to ``width`` columns."""
    rows, used = cache.batch_size, cache.size()
    heads, kd, vd = like_k.shape[1], like_k.shape[3], like_v.shape[3]
    if cache.keys is None:
        keys = mx.zeros((rows, heads, 0, kd), like_k.dtype)
        values = mx.zeros((rows, heads, 0, vd), like_v.dtype)
    else:
        keys, values = cache.keys[..., :used, :], cache.values[..., :used, :]
    valid = cache.valid
    pad = width - used
    if pad:
        keys = mx.concatenate([mx.zeros((rows, heads, pad, kd), keys.dtype), keys], axis=2)
        values = mx.concatenate([mx.zeros((rows, heads, pad, vd), values.dtype), values], axis=2)
        valid = mx.concatenate([mx.zeros((rows, pad), dtype=mx.bool_), valid], axis=1)
    return keys, values, valid


def check_batchable(model: Any, what: str) -> None:
    """Raise ValueError unless every layer of the model's cache is a plain ``KVCache``.

    Those are the layers a :class:`RaggedKVCache` can stand in for; rotating
    (sliding-window), quantized or state-space caches cannot be batched here.
    """
    layers = make_prompt_cache(model)
    odd = sorted({type(c).__name__ for c in layers if type(c) is not KVCache})
    if odd:
        raise ValueError(
            f"the {what} model's cache layers are {', '.join(odd)}, not plain KVCache: "
            "ragged batching needs trimmable full-attention caches (no sliding window, "
            "no quantized or state-space cache)"
        )


def make_ragged_cache(model: Any, left_padding: Sequence[int]) -> list[RaggedKVCache]:
    """One :class:`RaggedKVCache` per layer of ``model``, for a batch padded by ``left_padding``.

    Pass the result as ``cache=`` to ``model(tokens, cache=...)`` with
    ``tokens`` of shape ``(B, L)`` left-padded by exactly ``left_padding``.
    """
    return [RaggedKVCache(left_padding) for _ in make_prompt_cache(model)]


def rewind_rows(cache: list[RaggedKVCache], counts: mx.array | Sequence[int]) -> None:
    """Forget the last ``counts[b]`` tokens of row ``b`` in every layer.

    See :meth:`RaggedKVCache.rewind`. All layers hold the same columns, so the
    first layer's new mask and offsets are shared with the others (one
    device sync per rewind, not one per layer).
    """
    first = cache[0]
    first.rewind(counts)
    for layer in cache[1:]:
        layer.valid, layer.offset, layer._idx = first.valid, first.offset, first._idx


def filter_rows(cache: list[RaggedKVCache], keep: Sequence[int]) -> None:
    """Keep only rows ``keep`` (indices into the current batch, in order) in every layer.

    Raises:
        ValueError: when ``keep`` is not increasing positions ``0 .. B-1`` of the current
            batch (original row numbers, once rows have left, point past its end).
    """
    positions = [int(i) for i in (keep.tolist() if isinstance(keep, mx.array) else keep)]
    batch = cache[0].batch_size if cache else 0
    if any(i < 0 or i >= batch for i in positions) or positions != sorted(set(positions)):
        raise ValueError(
            f"filter_rows: keep={positions} for a cache of {batch} rows: pass increasing "
            f"positions in the CURRENT batch (0 .. {batch - 1}), not original row numbers "
            "(after rows have left, row b is no longer at position b)"
        )
    for layer in cache:
        layer.filter(keep)


def join_rows(cache: list[RaggedKVCache], other: list[RaggedKVCache]) -> None:
    """Append the rows of ``other`` (newly prefilled requests) below ``cache``'s, in every layer.

    Row ``i`` of ``other`` becomes row ``B + i`` of ``cache``; ``other`` must not be used
    afterwards. See :meth:`RaggedKVCache.join`.

    Raises:
        ValueError: when the two caches are not for the same model (layer counts differ).
    """
    if len(cache) != len(other):
        raise ValueError(
            f"join_rows: caches of {len(cache)} and {len(other)} layers: both must come from "
            "the same model (make_ragged_cache / batched_prefill of that model)"
        )
    for layer, extra in zip(cache, other, strict=True):
        layer.join(extra)


def prompt_lists(prompts: Any) -> list[list[int]]:
    """Check a batch of prompts and return it as lists of Python ints.

    Args:
        prompts: a non-empty list of prompts, each a list of ints or a 1-D
            integer ``mx.array`` with at least one token.

    Raises:
        TypeError: for a batch that is not a list/tuple, or a bad prompt.
        ValueError: for an empty batch or an empty prompt (naming its row).
    """
    if isinstance(prompts, mx.array) or not isinstance(prompts, (list, tuple)):
        raise TypeError(
            "prompts must be a list of prompts (lists of ints or 1-D mx.arrays), "
            f"got {type(prompts).__name__}; a 2-D array would hide each row's true length"
        )
    if not prompts:
        raise ValueError("the batch is empty: pass at least one prompt")
    return [token_list(p, what=f"prompts[{i}]") for i, p in enumerate(prompts)]


def budget_list(max_tokens: Any, batch: int) -> list[int]:
    """``max_tokens`` as one budget per row: one int for all, or a list of ``batch`` ints >= 0."""
    if isinstance(max_tokens, (list, tuple)):
        if len(max_tokens) != batch:
            raise ValueError(
                f"max_tokens has {len(max_tokens)} entries for {batch} prompts: "
                "give one budget per prompt, or a single int for all"
            )
        return [check_count(m, f"max_tokens[{i}]") for i, m in enumerate(max_tokens)]
    return [check_count(max_tokens, "max_tokens")] * batch
