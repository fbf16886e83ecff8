"""The multi-draft acceptance measurement (specdec_course.bench.multidraft) on a tiny pair."""

from specdec_course.bench.multidraft import measure
from specdec_course.core import impl
from specdec_course.testing import tiny_pair


def test_rows_for_every_temperature_width_and_method():
    before = impl.requested_impl()
    impl.activate("solutions")
    try:
        draft, target = tiny_pair(0)
        rows = measure(
            draft,
            target,
            [[1, 2, 3], [7]],
            depth=2,
            max_tokens=6,
            seeds=1,
            drafts=(1, 2),
            temperatures=(1.0,),
        )
    finally:
        impl.activate(before)
    assert [r["row"] for r in rows] == ["tree 1x2", "multi 1x2", "tree 2x2", "multi 2x2"]
    assert [r["verify width"] for r in rows] == [3, 3, 5, 5]
    for r in rows:
        assert 0 <= r["accepted/round"] <= 2, r
        assert 0 < r["target calls/token"] <= 7 / 6, r  # a prefill + one call per token at worst
