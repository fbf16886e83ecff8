"""The comparison policy in specdec_course.testing.baselines (HF's +2 / -1 heuristic)."""

from __future__ import annotations

import pytest

from specdec_course.testing.baselines import HeuristicSpeculator


def test_plus_two_on_full_acceptance_minus_one_otherwise():
    spec = HeuristicSpeculator(4)
    assert spec.lookahead == 4
    assert spec.update_lookahead(1.0, drafted=4) == 6, "all drafts accepted: K + 2"
    assert spec.update_lookahead(5 / 6, drafted=6) == 5, "any rejection: K - 1"
    assert spec.update_lookahead(0.0, drafted=5) == 4
    assert spec.update_lookahead(0.0, drafted=0) == 4, "a round that drafted nothing changes nothing"
    assert spec.lookahead == 4


def test_stays_within_bounds():
    spec = HeuristicSpeculator(2, min_lookahead=1, max_lookahead=5)
    for _ in range(10):
        spec.update_lookahead(1.0)
    assert spec.lookahead == 5
    for _ in range(10):
        spec.update_lookahead(0.0)
    assert spec.lookahead == 1


@pytest.mark.parametrize("kwargs", [dict(initial_lookahead=0), dict(min_lookahead=3, initial_lookahead=2),
                                    dict(max_lookahead=2, initial_lookahead=4), dict(up=-1)])
def test_rejects_bad_configuration(kwargs):
    with pytest.raises(ValueError):
        HeuristicSpeculator(**kwargs)


@pytest.mark.parametrize("rate", [-0.1, 1.1, float("nan")])
def test_rejects_bad_rates(rate):
    with pytest.raises(ValueError):
        HeuristicSpeculator().update_lookahead(rate)
