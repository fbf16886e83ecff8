"""specdec_course.api.caches.rewind: the cache rewind the Week 4 loops share.

Bugs caught: trimming by the wrong amount (keeping a rejected position, or one valid
position too few), trimming a cache that is already short enough, and a cache that refuses
to trim passing silently (the next round would attend to rejected tokens).
"""

import mlx.core as mx
import pytest
from mlx_lm.models.cache import RotatingKVCache, make_prompt_cache

from specdec_course.api.caches import rewind
from specdec_course.testing import tiny_llama


def test_keeps_exactly_length_positions_and_their_logits():
    model = tiny_llama(0)
    cache = make_prompt_cache(model)
    model(mx.array([[3, 7, 11, 2, 9]]), cache=cache)
    rewind(cache, 3)
    assert [c.offset for c in cache] == [3] * len(cache), "every layer must keep 3 positions"
    got = model(mx.array([[5]]), cache=cache)[0, -1]
    want = model(mx.array([[3, 7, 11, 5]]))[0, -1]
    assert mx.allclose(got, want, atol=1e-5).item(), (
        "after rewinding to 3 positions the next token must see exactly the first 3"
    )


def test_a_short_enough_cache_is_left_alone():
    model = tiny_llama(0)
    cache = make_prompt_cache(model)
    model(mx.array([[3, 7]]), cache=cache)
    rewind(cache, 5)
    assert cache[0].offset == 2, f"nothing to trim, but the offset moved to {cache[0].offset}"


def test_a_cache_that_refuses_is_one_clear_error():
    cache = [RotatingKVCache(max_size=4)]
    keys = mx.zeros((1, 1, 6, 2))
    for i in range(6):  # more positions than the window: it can no longer trim
        cache[0].update_and_fetch(keys[:, :, i : i + 1], keys[:, :, i : i + 1])
    with pytest.raises(RuntimeError, match="refused to trim"):
        rewind(cache, 2)
