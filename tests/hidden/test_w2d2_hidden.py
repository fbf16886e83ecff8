"""Hidden tests, Week 2 Day 2 (instructor-only).

What the public tests do not show: rounds capped to K = 0 in the mean accepted
count, the prediction with v != 1, and A / (A + R) on a long mixed record.
"""

import math

import numpy as np
import pytest

from specdec.metrics import derive_figures, estimate_alpha

pytestmark = pytest.mark.w2d2


def _figures(**change):
    args = dict(
        spec_tokens=120,
        spec_seconds=2.0,
        base_tokens=100,
        base_seconds=2.5,
        accepted_per_round=[3, 0, 2],
        drafted_per_round=[3, 0, 4],
        target_step_s=0.02,
        draft_step_s=0.004,
        verify_s=0.03,
    )
    args.update(change)
    return derive_figures(3, **args)


def test_mean_accepted_counts_every_round():
    # Bug caught: rounds that drafted nothing (K capped to 0) left out of the mean.
    f = _figures()
    assert f.mean_accepted == pytest.approx(5 / 3), (
        f"mean accepted per round over all 3 rounds is 5/3, got {f.mean_accepted}"
    )
    assert f.alpha == pytest.approx(5 / 6), f"alpha = A / (A + R) = 5 / 6, got {f.alpha}"


def test_prediction_uses_the_measured_verification_cost():
    # Bug caught: v taken as 1 (or as verify_s itself) in the predicted speedup.
    f = _figures()
    c, v, alpha = 0.2, 1.5, 5 / 6
    e = sum(alpha**i for i in range(4))
    assert (f.c, f.v) == pytest.approx((c, v)), f"(c, v) = (0.2, 1.5), got {(f.c, f.v)}"
    assert f.predicted_speedup == pytest.approx(e / (3 * c + v), rel=1e-9), (
        f"predicted = E(alpha, 3) / (3 c + v) = {e / (3 * c + v):.6f}, got {f.predicted_speedup}"
    )
    assert f.measured_over_predicted == pytest.approx(f.speedup / f.predicted_speedup), (
        f"measured_over_predicted must be speedup / predicted_speedup, got {f.measured_over_predicted}"
    )
    assert f.speedup == pytest.approx((120 / 2.0) / (100 / 2.5)), (
        f"speedup = spec tokens/s over base tokens/s = (120 / 2) / (100 / 2.5) = 1.5, got {f.speedup}"
    )


def test_estimate_on_a_long_mixed_record():
    # Bug caught: a full round with K varying counted as a rejection, K = 0 rounds counted.
    rng = np.random.default_rng(4)
    drafted = [int(k) for k in rng.integers(0, 7, size=60)]
    accepted = [int(rng.integers(0, k + 1)) for k in drafted]
    a = sum(accepted)
    r = sum(1 for n, k in zip(accepted, drafted, strict=True) if n < k)
    got = estimate_alpha(accepted, drafted)
    assert got == pytest.approx(a / (a + r), rel=1e-12), (
        f"want A / (A + R) = {a / (a + r)}, got {got}"
    )
    assert math.isnan(estimate_alpha([0, 0], [0, 0])), "nothing drafted: NaN"
