"""Hidden tests, Week 5 Day 2 (instructor-only).

What the public tests do not show: several EOS ids, array prompts, run() reporting every
request, an engine that empties and fills again, and a bad slot count.
"""

import mlx.core as mx
import pytest

from specdec.serving import SpeculativeEngine
from tests.w5_helpers import scripted_pair


def _engine(**kw):
    draft, target = scripted_pair()
    return SpeculativeEngine(draft, target, **kw), target


pytestmark = pytest.mark.w5d2


def test_several_eos_ids():
    engine, target = _engine(slots=2, lookahead=3, eos_token_id=None)
    full = target.greedy([3, 4], 20)
    stop = [full[3], full[6]]
    engine = SpeculativeEngine(scripted_pair()[0], target, slots=2, lookahead=3, eos_token_id=stop)
    rid = engine.submit([3, 4], 20)
    res = engine.run()[rid]
    cut = next(i for i, t in enumerate(full) if t in stop)
    assert res.tokens == full[: cut + 1] and res.finish_reason == "eos", (
        f"EOS ids {stop}: stop at the first of them, got {res.tokens}"
    )


def test_run_reports_every_request():
    engine, target = _engine(slots=1, lookahead=2)
    ids = [engine.submit([1, 2], 0), engine.submit(mx.array([5]), 4), engine.submit([6], 1)]
    results = engine.run()
    assert sorted(results) == sorted(ids), f"run() must return every request, got {sorted(results)}"
    assert results[ids[0]].tokens == [] and results[ids[1]].tokens == target.greedy([5], 4)


def test_empties_and_fills_again():
    # Bug caught: a batch filtered to zero rows kept instead of dropped (MLX cannot hold it).
    engine, target = _engine(slots=2, lookahead=2)
    a = engine.submit([1], 3)
    engine.run()
    b = engine.submit([2, 3], 6)
    engine.run()
    assert engine.result(a).tokens == target.greedy([1], 3)
    assert engine.result(b).tokens == target.greedy([2, 3], 6), (
        "a request submitted after the engine ran dry must start a fresh batch"
    )


@pytest.mark.parametrize("slots,exc", [(True, TypeError), (1.5, TypeError), (-2, ValueError)])
def test_bad_slots(slots, exc):
    draft, target = scripted_pair()
    with pytest.raises(exc):
        SpeculativeEngine(draft, target, slots=slots)


def test_cancel_everything_live():
    engine, target = _engine(slots=2, lookahead=2)
    ids = [engine.submit([i + 1], 30) for i in range(2)]
    engine.step()
    for rid in ids:
        engine.cancel(rid)
    engine.step()
    assert not engine.has_work(), "cancelling every live request leaves nothing to do"
    late = engine.submit([7], 4)
    engine.run()
    assert engine.result(late).tokens == target.greedy([7], 4)
