"""Rewinding a KV cache: the one helper the Week 4 loops share.

Week 1 Day 3 has you write this yourself (``_rewind`` in ``decoder.py``): trim the cache
back to the positions that are still valid after a rejection. From Week 4 on, the loops
(prompt lookup, the fast path) call this copy instead of a third and fourth one, and so do
not depend on what you named your Week 1 helper. Trimming only moves an integer offset per
layer: it queues no device work and costs no sync.

May import: nothing of ours.
"""

from __future__ import annotations

from typing import Any

from mlx_lm.models.cache import trim_prompt_cache


def rewind(cache: list[Any], length: int) -> None:
    """Trim every layer of ``cache`` back to ``length`` positions (nothing to do if shorter).

    Args:
        cache: an mlx-lm prompt cache (one entry per layer) whose ``offset`` counts positions.
        length: how many positions to keep.

    Raises:
        RuntimeError: the cache refused to trim (a rotating or quantized cache): speculative
            decoding cannot rewind it. The loops check this before any model runs.
    """
    excess = cache[0].offset - length
    if excess > 0 and trim_prompt_cache(cache, excess) != excess:
        raise RuntimeError(
            "a KV cache refused to trim; speculative decoding needs a rewindable cache "
            "(mlx_lm.models.cache.KVCache, not a rotating or quantized one)"
        )
