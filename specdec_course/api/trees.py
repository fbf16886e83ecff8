"""Token trees: ONE forward pass of an mlx-lm model over a tree of tokens, and keeping one path.

Course machinery for Week 4 Day 2 (students may import it). A tree of ``N`` tokens goes to the
model flattened, one row per node, in breadth-first order (so the nodes of one depth sit next
to each other). Two things make that one pass score every node as if its own root-to-node path
had been fed on its own:

* **the mask**: node ``i`` attends to the committed prefix (everything the cache already
  holds) and to the nodes the caller's ``mask[i]`` allows: its ancestors and itself;
* **the positions**: node ``i`` sits at position ``prefix + depth[i]``, not at
  ``prefix + i``. mlx-lm attention modules rotate queries and keys with
  ``self.rope(x, offset=cache.offset)``; :func:`tree_forward` wraps each ``rope`` for the
  pass so that the model's *own* rope runs once per run of equal depths, with
  ``offset = prefix + depth`` for every node of the run (each node passed as a length-1
  sequence). Every rope variant mlx-lm has takes ``offset``, so this works for all of them.

The mask comes in through the cache: mlx-lm models ask ``cache.make_mask(N, ...)`` for their
attention mask, so each cache layer is wrapped for the pass in a proxy whose ``make_mask``
returns the boolean tree mask of shape ``(N, prefix + N)``. Originals are restored in a
``finally``, even when the model raises.

:func:`keep_path` then keeps only the accepted path's keys and values: it moves them to sit
right after the prefix and forgets the rest. That is valid *because* of the depth positions:
the path's node at depth ``d`` was rotated for position ``prefix + d``, which is exactly the
slot it moves to.

Models that are not transformers (the course's exact test models in
``specdec_course.testing``) declare ``reads_tree_from_cache = True`` and read the tree from
``cache[0].tree_mask`` / ``cache[0].tree_depths`` themselves.

May import: ``core`` (this module imports only mlx and mlx-lm).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import KVCache, make_prompt_cache

__all__ = ["check_tree_model", "keep_path", "tree_forward"]


def _plain_kv(layer: Any) -> bool:
    # A rotating cache overwrites old slots and a quantized one packs keys in groups: neither
    # can move single positions. Trimmable KVCache layers are the only ones keep_path handles.
    return isinstance(layer, KVCache) and layer.is_trimmable()


def _check_cache(cache: Sequence[Any], what: str) -> None:
    bad = sorted({type(c).__name__ for c in cache if not _plain_kv(c)})
    if not cache or bad:
        raise ValueError(
            f"token trees need plain, trimmable KVCache layers in the {what}'s cache, got "
            f"{', '.join(bad) or 'no layers'}: a rotating (sliding-window) or quantized cache "
            "cannot keep one path of a tree. Use a model whose make_prompt_cache gives KVCache."
        )


def _rope_owners(model: Any, what: str) -> list[nn.Module]:
    """The modules (one or more per layer) that own a ``rope`` sub-module."""
    owners: list[nn.Module] = []
    seen: set[int] = set()
    for i, layer in enumerate(getattr(model, "layers", None) or []):
        found = [
            m
            for _, m in layer.named_modules()
            if isinstance(m.get("rope", None), nn.Module) and id(m) not in seen
        ]
        if not found:
            raise ValueError(
                f"layer {i} of the {what} model ({type(layer).__name__}) has no attention "
                "module with a `rope`: tree positions (prefix + depth) are set through each "
                "attention's rope, so token trees support RoPE transformers (Llama, Qwen, "
                "Mistral, ...) only"
            )
        seen.update(id(m) for m in found)
        owners.extend(found)
    if not owners:
        raise ValueError(f"the {what} model has no `layers`: is it an mlx-lm model?")
    return owners


def check_tree_model(model: Any, what: str = "target") -> None:
    """Raise ValueError unless one tree pass of ``model`` can be run and one path kept.

    Runs no model: it makes a prompt cache and inspects the layers.

    Args:
        model: an mlx-lm style model (or a wrapper that forwards ``layers``/``make_cache``).
        what: the model's role, for the message.

    Raises:
        ValueError: for caches other than trimmable ``KVCache`` layers, or a model whose
            layers have no attention ``rope`` (unless it declares ``reads_tree_from_cache``).
    """
    _check_cache(make_prompt_cache(model), what)
    if not getattr(model, "reads_tree_from_cache", False):
        _rope_owners(model, what)


def _depth_runs(depths: list[int]) -> list[tuple[int, int, int]]:
    """``(start, stop, depth)`` for every run of equal consecutive depths."""
    runs: list[tuple[int, int, int]] = []
    for i, d in enumerate(depths):
        if runs and runs[-1][2] == d and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1, d)
        else:
            runs.append((i, i + 1, d))
    return runs


#: Rope classes checked to rotate a batch of length-1 sequences with one offset each (the
#: fast path of :class:`_DepthRope`); filled on first use, one check per class and process.
_PER_ROW_OFFSETS: dict[type, bool] = {}


class _DepthRope:
    """Stands in for one attention's ``rope`` during a tree pass: positions by depth.

    Correct for every rope that takes ``offset``: each run of equal depths is rotated by the
    model's own rope with ``offset = prefix + depth``, every node of the run passed as its own
    length-1 sequence (a new axis before the position axis), so all of them get that position
    instead of consecutive ones. Faster where the rope allows it (``mx.fast.rope`` does): the
    ``N`` nodes become a batch of ``N`` length-1 sequences rotated in ONE call with the array
    of offsets ``prefix + depths``. The fast path is checked against the runs once per rope
    class and used only where the two agree.
    """

    def __init__(self, rope: nn.Module, runs: list[tuple[int, int, int]], depths: mx.array):
        self.rope, self.runs, self.depths = rope, runs, depths
        self.n = int(depths.shape[0])

    def _by_runs(self, x: mx.array, offset: Any, kwargs: dict[str, Any]) -> mx.array:
        parts = [
            self.rope(x[..., start:stop, None, :], offset=offset + depth, **kwargs)[..., 0, :]
            for start, stop, depth in self.runs
        ]
        return parts[0] if len(parts) == 1 else mx.concatenate(parts, axis=-2)

    def _per_row(self, x: mx.array, offset: Any, kwargs: dict[str, Any]) -> mx.array | None:
        # (1, H, N, D) -> (N, H, 1, D): node i is batch row i, rotated at offset + depth[i].
        try:
            out = self.rope(x.transpose(2, 1, 0, 3), offset=offset + self.depths, **kwargs)
        except (TypeError, ValueError):
            return None  # this rope cannot take an array of offsets
        wanted = (self.n, x.shape[1], 1, x.shape[3])
        return out.transpose(2, 1, 0, 3) if out.shape == wanted else None

    def __call__(self, x: mx.array, offset: Any = 0, **kwargs: Any) -> mx.array:
        if x.ndim != 4 or x.shape[-2] != self.n:
            raise RuntimeError(
                f"a tree pass of {self.n} nodes rotated an array of shape {x.shape}: this model "
                "calls its rope on something other than the new (B, H, N, D) queries/keys"
            )
        kind = type(self.rope)
        if x.shape[0] != 1 or _PER_ROW_OFFSETS.get(kind) is False or len(self.runs) == 1:
            return self._by_runs(x, offset, kwargs)
        fast = self._per_row(x, offset, kwargs)
        if kind not in _PER_ROW_OFFSETS:
            slow = self._by_runs(x, offset, kwargs)
            # A wrong rotation is off by O(1); the same kernel's rounding by far less.
            ok = fast is not None and bool(
                mx.allclose(fast.astype(mx.float32), slow.astype(mx.float32), 1e-2, 1e-2)
            )
            _PER_ROW_OFFSETS[kind] = ok
            return fast if ok else slow
        return fast if fast is not None else self._by_runs(x, offset, kwargs)


class _TreeCache:
    """Wraps one KVCache layer for a tree pass: its ``make_mask`` returns the tree mask."""

    def __init__(self, inner: Any, full_mask: mx.array, tree_mask: mx.array, depths: mx.array):
        self._inner = inner
        self._full_mask = full_mask
        self.tree_mask = tree_mask
        self.tree_depths = depths

    def make_mask(self, n: int, *args: Any, **kwargs: Any) -> mx.array:
        if n != self.tree_mask.shape[0]:
            raise RuntimeError(f"tree pass of {self.tree_mask.shape[0]} nodes asked a {n}-row mask")
        if kwargs.get("window_size") is not None:
            raise ValueError("token trees do not support sliding-window attention layers")
        return self._full_mask

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)


def _as_int_list(values: Any, what: str) -> list[int]:
    out = values.tolist() if isinstance(values, mx.array) else list(values)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in out):
        hint = (
            ": its elements are mx.arrays (list() of an array); use a list of Python ints "
            "(token_list(prompt), or array.tolist())"
            if any(isinstance(v, mx.array) for v in out)
            else ""
        )
        raise TypeError(f"{what} must hold ints, got {out!r}{hint}")
    return out


def tree_forward(
    model: Any,
    tokens: Sequence[int],
    cache: list[Any],
    mask: mx.array,
    depths: mx.array | Sequence[int],
) -> mx.array:
    """ONE forward pass over a tree of tokens; logits for every node.

    The cache holds the committed prefix (``P = cache[0].offset`` tokens). After the call it
    holds ``P + N`` entries: the prefix and every node in the given order (use
    :func:`keep_path` to keep one path and forget the rest).

    Args:
        model: an mlx-lm RoPE transformer (any wrapper forwarding ``layers``), or a model
            with ``reads_tree_from_cache = True``.
        tokens: the ``N >= 1`` node tokens, breadth-first (nodes of one depth contiguous;
            other orders work too, one rope call per run of equal depths).
        cache: the model's prompt cache (trimmable ``KVCache`` layers).
        mask: bool ``(N, N)``: ``mask[i, j]`` is True when node ``i`` may attend to node
            ``j`` (its ancestors and itself). The prefix is always visible.
        depths: int ``(N,)``: the node's distance from the prefix (roots have depth 0);
            node ``i`` is scored at position ``P + depths[i]``.

    Returns:
        ``(N, V)`` logits in the model's dtype: row ``i`` is the next-token prediction after
        the prefix followed by node ``i``'s root-to-node path.

    Raises:
        TypeError / ValueError: for shapes that do not match ``N``, a negative depth, or a
            model/cache that cannot run a tree (see :func:`check_tree_model`).
    """
    tokens = _as_int_list(tokens, "tokens")
    n = len(tokens)
    if n < 1:
        raise ValueError("a tree needs at least one node")
    if not isinstance(mask, mx.array) or mask.shape != (n, n):
        shape = getattr(mask, "shape", type(mask).__name__)
        raise ValueError(f"mask must be an mx.array of shape (N, N) = ({n}, {n}), got {shape}")
    depth_list = _as_int_list(depths, "depths")
    if len(depth_list) != n or min(depth_list) < 0:
        raise ValueError(f"depths must be N = {n} ints >= 0, got {depth_list}")
    _check_cache(cache, "model")
    tree_aware = bool(getattr(model, "reads_tree_from_cache", False))
    owners = [] if tree_aware else _rope_owners(model, "model")

    mask = mask.astype(mx.bool_)
    prefix = cache[0].offset
    full = mx.concatenate([mx.ones((n, prefix), dtype=mx.bool_), mask], axis=1)
    depth_array = mx.array(depth_list, dtype=mx.int32)
    wrapped = [_TreeCache(c, full, mask, depth_array) for c in cache]
    runs = _depth_runs(depth_list)
    originals = [m.rope for m in owners]
    try:
        for m, rope in zip(owners, originals, strict=True):
            m.rope = _DepthRope(rope, runs, depth_array)
        # MLX builds the graph while the Python runs, so the patched ropes are only needed
        # for the duration of this call, not until the logits are evaluated.
        logits = model(mx.array(tokens)[None], cache=wrapped)
    finally:
        for m, rope in zip(owners, originals, strict=True):
            m.rope = rope
    return logits[0]


def keep_path(cache: list[Any], prefix_len: int, nodes: Sequence[int]) -> None:
    """Keep the prefix and the KV entries of ``nodes``, in order; forget the rest of the tree.

    After a tree pass the cache holds ``prefix_len`` committed tokens followed by the tree's
    nodes. This moves node ``nodes[k]``'s keys and values to slot ``prefix_len + k`` in every
    layer and sets ``offset = prefix_len + len(nodes)``: the cache then equals (up to float
    rounding) one built by a plain pass over the prefix and the path's tokens, because the
    node at depth ``k`` of a root-to-node path was rotated for exactly that position.

    Args:
        cache: the model's prompt cache (trimmable ``KVCache`` layers).
        prefix_len: the committed tokens before the tree (``0 <= prefix_len <= offset``).
        nodes: increasing node indices (of the tree pass's order): a root-to-node path.

    Raises:
        ValueError: for another cache type or node indices outside the tree / not increasing.
    """
    _check_cache(cache, "model")
    nodes = _as_int_list(nodes, "nodes")
    total = cache[0].offset
    if not 0 <= prefix_len <= total:
        raise ValueError(
            f"prefix_len must be in [0, {total}] (the cache's offset), got {prefix_len}"
        )
    size = total - prefix_len
    rising = all(a < b for a, b in zip(nodes, nodes[1:], strict=False))
    if any(not 0 <= i < size for i in nodes) or not rising:
        raise ValueError(
            f"nodes must be increasing indices into the {size} tree entries (a root-to-node "
            f"path), got {nodes}"
        )
    keep = len(nodes)
    moves = nodes != list(range(keep))
    index = mx.array([prefix_len + i for i in nodes], dtype=mx.int32) if moves else None
    for layer in cache:
        if moves:
            # Gather first (it reads the old buffer), then write the run after the prefix.
            keys = layer.keys[..., index, :]
            values = layer.values[..., index, :]
            layer.keys[..., prefix_len : prefix_len + keep, :] = keys
            layer.values[..., prefix_len : prefix_len + keep, :] = values
        layer.offset = prefix_len + keep
