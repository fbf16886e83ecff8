"""Hidden tests, Week 5 Day 1 (instructor-only).

What the public tests do not show: several EOS ids, all budgets zero, sampling without a
key, a batch larger than the cost table, and the constructor's type checks.
"""

import mlx.core as mx
import pytest

from specdec.rowpolicy import RowLookahead
from specdec.rowspec import rowwise_speculative_generate
from specdec_course.api.serving import BatchCosts
from tests.w3_helpers import BatchCounting
from tests.w5_helpers import scripted_pair

pytestmark = pytest.mark.w5d1

FLAT = BatchCosts.uniform(0.1, [1.0, 1.05, 1.1, 1.3, 1.5], max_rows=2)


def test_several_eos_ids():
    # Bug caught: `token == eos_token_id` instead of membership in the set of ids.
    draft, target = scripted_pair()
    full = target.greedy([3, 4], 20)
    stop = {full[4], full[7]}
    got = rowwise_speculative_generate(
        [[3, 4]], draft, target, 20, lookahead=3, eos_token_id=list(stop)
    )[0]
    cut = next(i for i, t in enumerate(full) if t in stop)
    assert got.tokens == full[: cut + 1] and got.finish_reason == "eos", (
        f"EOS ids {sorted(stop)}: stop at the first of them, got {got.tokens}"
    )


def test_all_budgets_zero_call_nothing():
    # Bug caught: prefilling before checking that some row has a budget.
    draft, target = scripted_pair()
    counted = BatchCounting(target)
    results = rowwise_speculative_generate([[1], [2, 3]], draft, counted, [0, 0], lookahead=2)
    assert [r.tokens for r in results] == [[], []] and counted.calls == 0, (
        f"all budgets 0: no tokens and no model call, got {counted.shapes}"
    )


def test_sampling_without_a_key():
    # Bug caught: split_key(None) replaced by mx.random.split(None), which raises.
    draft, target = scripted_pair()
    results = rowwise_speculative_generate(
        [[1], [5, 6]], draft, target, 6, lookahead=2, temperature=1.0
    )
    assert [len(r.tokens) for r in results] == [6, 6], "key=None must use MLX's global RNG"


def test_more_rows_than_the_cost_table():
    # Bug caught: indexing costs by the batch size without clamping (IndexError for B = 5).
    draft, target = scripted_pair()
    prompts = [[i + 1] for i in range(5)]
    results = rowwise_speculative_generate(
        prompts, draft, target, 8, lookahead=RowLookahead(FLAT, k_max=3)
    )
    for p, r in zip(prompts, results, strict=True):
        assert r.tokens == target.greedy(p, 8), f"prompt {p} differs from target greedy"


@pytest.mark.parametrize(
    "kw,exc",
    [
        ({"k_max": True}, TypeError),
        ({"window": 2.5}, TypeError),
        ({"prior_weight": -1.0}, ValueError),
        ({"prior_alpha": "0.5"}, TypeError),
    ],
)
def test_constructor_types(kw, exc):
    with pytest.raises(exc):
        RowLookahead(FLAT, **kw)


def test_plan_of_no_rows():
    assert RowLookahead(FLAT).plan([], []) == (0, []), "no live rows: (0, [])"


def test_array_prompts():
    draft, target = scripted_pair()
    got = rowwise_speculative_generate([mx.array([3, 4]), [9]], draft, target, 5, lookahead=2)
    assert got[0].tokens == target.greedy([3, 4], 5), "1-D mx.array prompts must work"
