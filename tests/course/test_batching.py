"""specdec_course.api.batching.filter_rows: the row filter Week 3's loops call.

Bug caught (in student code, by the message): ``filter_rows`` called with original row numbers
instead of positions in the current batch. Once a row has left, row ``b`` is no longer at
position ``b``; the filter must say so rather than fail in an MLX gather or keep wrong rows.
"""

import mlx.core as mx
import pytest

from specdec_course.api.batching import RaggedKVCache, filter_rows


def _cache(rows: int) -> list[RaggedKVCache]:
    layer = RaggedKVCache([0] * rows)
    ids = mx.arange(rows * 2, dtype=mx.float32).reshape(rows, 1, 2, 1)
    layer.update_and_fetch(ids, ids)
    return [layer]


def test_keeps_the_named_positions():
    cache = _cache(4)
    filter_rows(cache, [1, 3])
    assert cache[0].batch_size == 2, "two positions kept: a cache of two rows"
    assert cache[0].keys[:, 0, :2, 0].tolist() == [[2, 3], [6, 7]], "rows 1 and 3, in order"


@pytest.mark.parametrize(
    "keep", [[0, 3], [2, 1], [1, 1], [-1]], ids=["past-end", "order", "dup", "neg"]
)
def test_refuses_what_is_not_a_position_of_the_current_batch(keep):
    with pytest.raises(ValueError, match="CURRENT batch"):
        filter_rows(_cache(3), keep)
