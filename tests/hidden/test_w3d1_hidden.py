"""Hidden tests, Week 3 Day 1 (instructor-only).

What the public tests do not show: sampling with the default key, several EOS
ids at once, a batch in which every budget is 0, and an EOS that is also a
row's last budgeted token.
"""

import mlx.core as mx
import pytest

from specdec.ragged import batched_generate
from specdec_course.testing import random_markov
from tests.w3_helpers import (
    BatchCounting,
    BatchMarkov,
    HistoryScripted,
    cut_at_eos,
    history_hash,
)

pytestmark = pytest.mark.w3d1

PROMPTS = [[4], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [7, 7], [3, 9, 2]]


def _model() -> HistoryScripted:
    # Greedy choices depend on the whole visible history, with logit 20 vs 0: no near-ties.
    return HistoryScripted(16, history_hash(16))


def test_sampling_with_the_default_key():
    # Bug caught: the key split only when sampling (`if temperature > 0: key, sub =
    # mx.random.split(key)`) without handling key=None: crashes at T > 0 with the default key,
    # although every public sampling test passes a key.
    mx.random.seed(4)
    results = batched_generate(
        BatchMarkov(random_markov(5, seed=2)), [[1, 2], [3]], 6, temperature=1.0
    )
    got = [r.tokens for r in results]
    assert [len(t) for t in got] == [6, 6] and all(0 <= t < 5 for row in got for t in row), (
        f"T=1.0 with key=None must sample from the global RNG (split the key only when there is "
        f"one), got {got}"
    )


def test_several_eos_ids_end_their_own_rows():
    # Bug caught: `token == eos_token_id` instead of membership in the set of EOS ids: with a
    # list of ids no row ever stops (the public tests pass one int).
    model = _model()
    stop = {9, 5}
    results = batched_generate(model, PROMPTS, 12, eos_token_id=sorted(stop))
    want = [cut_at_eos(model.greedy(p, 12), stop) for p in PROMPTS]
    ends = {w[-1] for w in want if len(w) < 12}
    assert ends == stop and any(len(w) == 12 for w in want), "test setup: both ids must end a row"
    got = [r.tokens for r in results]
    assert got == want, (
        f"eos_token_id={sorted(stop)}: got {got}, want {want}: ANY of the given ids ends a row "
        "(use the set from eos_ids, not == on the argument)"
    )
    reasons = [r.finish_reason for r in results]
    assert reasons == ["eos" if len(w) < 12 else "length" for w in want], f"got {reasons}"


def test_every_budget_zero_runs_nothing():
    # Bug caught: no early return when no row has a budget: batched_prefill on an empty batch
    # crashes (max() of nothing) or the model runs for rows that want no tokens.
    model = BatchCounting(_model())
    for budgets in (0, [0, 0]):
        try:
            results = batched_generate(model, [[1], [2, 3]], budgets)
        except (ValueError, IndexError) as err:  # e.g. max() of an empty batch
            raise AssertionError(
                f"max_tokens={budgets}: {type(err).__name__}: {err}. With every budget 0 "
                "return empty results before any prefill or call"
            ) from err
        assert [r.tokens for r in results] == [[], []], f"max_tokens={budgets}: no tokens at all"
        assert [r.target_calls for r in results] == [0, 0] and model.calls == 0, (
            f"max_tokens={budgets}: the model ran {model.calls} times; with every budget 0 "
            "return empty results before any call"
        )


def test_eos_as_the_last_budgeted_token_is_eos():
    # Bug caught: the budget checked before the EOS: a row whose EOS is exactly its last
    # allowed token reports finish_reason "length" instead of "eos".
    model = _model()
    prompts = [[4], [7, 7], [3, 9, 2]]
    assert model.greedy([4], 4)[-1] == 9 and 9 not in model.greedy([7, 7], 12), "test setup"
    results = batched_generate(model, prompts, [4, 12, 10], eos_token_id=9)
    assert results[0].tokens == model.greedy([4], 4), f"got {results[0].tokens}"
    reasons = [r.finish_reason for r in results]
    assert reasons == ["eos", "length", "eos"], (
        f"finish reasons {reasons}, want ['eos', 'length', 'eos']: row 0's 4th and last allowed "
        "token is the EOS: check the EOS first, then the budget"
    )
