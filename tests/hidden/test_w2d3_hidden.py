"""Hidden tests, Week 2 Day 3 (instructor-only).

What the public tests do not show: the window forgets old rounds, drafted=None
means the current K, and idle (K = 0) rounds leave the estimate alone.
"""

import pytest

from specdec.adaptive import AdaptiveSpeculator

pytestmark = pytest.mark.w2d3


def test_the_window_forgets_old_rounds():
    # Bug caught: an unbounded history (the estimate never forgets a regime change).
    s = AdaptiveSpeculator(4, window=2, min_lookahead=4, max_lookahead=4)
    s.update_lookahead(0.0, drafted=4)  # 0 of 4: falls out of the window below
    s.update_lookahead(1.0, drafted=4)  # 4 of 4
    s.update_lookahead(0.5, drafted=4)  # 2 of 4, rejected
    assert s.estimated_alpha == pytest.approx(6 / 7), (
        f"window=2 keeps the last two rounds (4/4, 2/4): A/(A+R) = 6/7, got {s.estimated_alpha}"
    )


def test_drafted_none_means_the_current_lookahead():
    # Bug caught: drafted=None treated as 1 draft (or the rate stored as a count).
    s = AdaptiveSpeculator(4, window=3, min_lookahead=4, max_lookahead=4)
    s.update_lookahead(0.5)
    assert s.estimated_alpha == pytest.approx(2 / 3), (
        f"rate 0.5 with drafted=None means 2 of the current K=4 accepted, one rejection: "
        f"alpha = 2/3, got {s.estimated_alpha}"
    )


def test_idle_rounds_leave_the_estimate_alone():
    # Bug caught: (0, 0) records pushed into the window, evicting real evidence.
    s = AdaptiveSpeculator(2, window=2, min_lookahead=0, max_lookahead=2)
    s.update_lookahead(0.5, drafted=2)
    s.update_lookahead(0.5, drafted=2)
    before = s.estimated_alpha
    s.update_lookahead(0.0, drafted=0)
    s.update_lookahead(0.0, drafted=0)
    assert before == pytest.approx(0.5) and s.estimated_alpha == pytest.approx(before), (
        f"rounds that drafted nothing carry no evidence: alpha must stay {before}, "
        f"got {s.estimated_alpha}"
    )
