"""PRNG keys that may be absent: one split helper for every loop of the course.

Every generation loop (Week 1's decoder, the batched loop, prompt lookup, token trees)
takes ``key=None`` to mean "use MLX's global random state". Splitting must then pass
``None`` through instead of calling ``mx.random.split(None)``, which raises: a bug the
tests catch in student code. The loops call this one helper, so they read the same
with and without a key.

May import: nothing of ours.
"""

from __future__ import annotations

import mlx.core as mx


def split_key(key: mx.array | None) -> tuple[mx.array | None, mx.array | None]:
    """Split ``key`` into ``(next key, subkey)``; ``(None, None)`` when ``key`` is None.

    Args:
        key: a PRNG key (``mx.random.key(seed)``) or None.

    Returns:
        ``(key, sub)``: the key to carry on with and one to use now, both None for None.
    """
    if key is None:
        return None, None
    key, sub = mx.random.split(key)
    return key, sub
