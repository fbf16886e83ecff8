"""specdec bench --week4 --target smollm2: the two prompt sets' rows, on a tiny in-process model.

Bugs caught: a prompt set or row missing, a lookup row whose output differs from target-only
greedy, a lookup round on a context with nothing to copy that is not a plain one-token step,
and a table or goal line that does not render. (The real model's rows are timed by hand.)
"""

import io

import pytest
from rich.console import Console

from specdec_course.bench.week4_smollm2 import BASE, GOALS, LOOKUP, SETS, render, run_smollm2
from specdec_course.core import impl
from specdec_course.testing import CountingModel, tiny_llama, tiny_pair

K = 4


@pytest.fixture(scope="module")
def report():
    before = impl.requested_impl()
    impl.activate("solutions")
    try:
        _, target = tiny_pair(3)
        sets = {"copy_heavy": [[1, 2, 3, 4, 5, 1, 2, 3]], "open_chat": [[7, 3, 9, 1]]}
        yield run_smollm2(
            target,
            sets,
            eos=set(),
            k=K,
            max_tokens=10,
            repeats=1,
            impl="solutions",
            model_name="tiny",
            log=lambda m: None,
        )
    finally:
        impl.activate(before)


def test_both_sets_both_rows_lossless(report):
    for prompts in SETS:
        for name in (BASE, LOOKUP):
            row = report.row(prompts, name)
            assert row.tokens == 10 and row.tokens_per_s > 0, row
            assert row.mismatches == 0, f"{prompts} {name}: output differs from target-only"


def test_target_only_is_one_call_per_token(report):
    for prompts in SETS:
        base = report.row(prompts, BASE)
        # Prefill + one call per token but the first (scored by the prefill).
        assert base.target_calls_per_token == pytest.approx(1.0), base


def test_empty_proposal_is_one_token_step():
    # Nothing repeats in the context: every round proposes nothing and must feed the target
    # exactly one token (a plain decoding step), never a (K + 1)-token pass.
    before = impl.requested_impl()
    impl.activate("solutions")
    try:
        from specdec.lookup import lookup_generate
        from specdec.ngram import NgramDrafter

        model = CountingModel(
            tiny_llama(
                0,
                vocab_size=64,
                hidden_size=16,
                num_layers=1,
                intermediate_size=16,
                num_heads=2,
                num_kv_heads=1,
            )
        )
        drafter = NgramDrafter(64, min_ngram=3, max_ngram=3)
        result = lookup_generate(model, [1, 2, 3, 4, 5], 3, drafter=drafter, lookahead=K)
    finally:
        impl.activate(before)
    assert result.drafted_per_round == [0, 0, 0], "test setup: the context should never match"
    assert model.tokens_per_call == [4, 1, 1, 1], "an empty proposal must be a one-token step"


def test_render_prints_both_goals(report):
    out = io.StringIO()
    render(Console(file=out, width=160), report)
    text = out.getvalue()
    for prompts, goal in GOALS.items():
        assert f"on {SETS[prompts]} prompts" in text and f"{goal:.2f}x" in text, text
