"""Week 5 Day 2 - continuous batching with speculation (chapter week5-02-continuous-batching)."""

from collections import Counter

import mlx.core as mx
import pytest

from specdec.rowpolicy import RowLookahead
from specdec.serving import SpeculativeEngine
from specdec_course.api.serving import BatchCosts
from specdec_course.testing import exact_sequence_distribution, perturbed, random_markov, tiny_pair
from specdec_course.testing.diffs import token_mismatch
from specdec_course.testing.stats import assert_follows
from tests.w3_helpers import BatchCounting, BatchMarkov, clear_ragged_prompts
from tests.w5_helpers import V, scripted_pair

pytestmark = pytest.mark.w5d2

FLAT = BatchCosts.uniform(0.1, [1.0, 1.05, 1.1, 1.3, 1.5])


def prompt_for(i):
    """Prompt i: lengths 1 .. 9, all different."""
    return [(7 * i + j) % V for j in range(1 + i % 9)]


def drive(engine, arrivals, slots=None):
    """Submit (step, prompt, budget) at their step; step until done; return ids and all events.

    Checks after every step that the batch never holds more rows than slots.
    """
    ids, events, step = {}, [], 0
    pending = sorted(arrivals, key=lambda a: a[0])
    while pending or engine.has_work():
        while pending and pending[0][0] <= step:
            _, prompt, budget = pending.pop(0)
            ids[engine.submit(prompt, budget)] = (prompt, budget)
        events += engine.step()
        if slots is not None:
            assert engine.live <= slots, f"{engine.live} rows live with {slots} slots"
        step += 1
        assert step < 2000, "the engine never finished: has_work() stays True"
    return ids, events


class TestEveryRequestIsItsOwnDecode:
    @pytest.mark.parametrize("lookahead", [0, 2, 4, "policy"])
    def test_staggered_arrivals_equal_single_sequence(self, lookahead):
        draft, target = scripted_pair()
        la = RowLookahead(FLAT, k_max=4) if lookahead == "policy" else lookahead
        engine = SpeculativeEngine(draft if la else None, target, slots=3, lookahead=la)
        arrivals = [(2 * i, prompt_for(i), [5, 20, 1, 13][i % 4]) for i in range(10)]
        ids, _ = drive(engine, arrivals, slots=3)
        for rid, (prompt, budget) in ids.items():
            got, want = engine.result(rid).tokens, target.greedy(prompt, budget)
            assert got == want, token_mismatch(
                got,
                want,
                "a newcomer joined with the wrong cache positions (or saw another "
                "row's tokens), or a row rewound by another's count",
                what=f"lookahead {lookahead}: request {rid} (prompt length {len(prompt)}) against "
                "single-sequence greedy",
            )

    def test_a_queue_longer_than_the_slots(self):
        draft, target = scripted_pair()
        counted = BatchCounting(target)
        engine = SpeculativeEngine(draft, counted, slots=2, lookahead=3)
        ids, _ = drive(engine, [(0, prompt_for(i), 8) for i in range(7)], slots=2)
        assert max(b for b, _ in counted.shapes) <= 2, (
            f"target calls with batch sizes {sorted({b for b, _ in counted.shapes})}: a prefill "
            "may admit only as many requests as there are free slots"
        )
        for rid, (prompt, budget) in ids.items():
            assert engine.result(rid).tokens == target.greedy(prompt, budget), f"request {rid}"

    def test_joins_after_plain_rounds(self):
        # A policy that starts at K = 0 makes the draft lag; a newcomer then joins a batch whose
        # draft cache is behind (join_batches catches it up first).
        draft, target = scripted_pair()
        policy = RowLookahead(BatchCosts.uniform(0.1, [1.0, 9.0, 9.0]), k_max=2, window=2)
        engine = SpeculativeEngine(draft, target, slots=4, lookahead=policy)
        arrivals = [(0, prompt_for(3), 30), (4, prompt_for(4), 20), (9, prompt_for(5), 12)]
        ids, _ = drive(engine, arrivals, slots=4)
        for rid, (prompt, budget) in ids.items():
            assert engine.result(rid).tokens == target.greedy(prompt, budget), (
                f"request {rid} joined a batch after K = 0 rounds (and probes at K = 1) and "
                "differs from single-sequence greedy"
            )

    def test_tiny_llamas(self):
        draft, target = tiny_pair(10)
        prompts, wants = clear_ragged_prompts(target, 5, 12, 10)
        engine = SpeculativeEngine(draft, target, slots=2, lookahead=3)
        ids = [engine.submit(p, 12) for p in prompts]
        results = engine.run()
        for b, (rid, want) in enumerate(zip(ids, wants, strict=True)):
            assert results[rid].tokens == want, f"request {b} differs from target greedy"


class TestEvents:
    def test_events_add_up_to_the_results(self):
        draft, target = scripted_pair()
        engine = SpeculativeEngine(draft, target, slots=2, lookahead=3, eos_token_id=9)
        ids, events = drive(engine, [(i, prompt_for(i), 15) for i in range(5)], slots=2)
        for rid in ids:
            mine = [e for e in events if e.request_id == rid]
            tokens = [t for e in mine for t in e.tokens]
            assert tokens == engine.result(rid).tokens, (
                f"request {rid}: the tokens reported by step() {tokens} must add up to its "
                f"result {engine.result(rid).tokens}"
            )
            finished = [e for e in mine if e.finished]
            assert len(finished) == 1 and finished[0] is mine[-1], (
                f"request {rid}: exactly one Emitted(finished=True), its last; got "
                f"{[(e.tokens, e.finished) for e in mine]}"
            )
            assert finished[0].finish_reason == engine.result(rid).finish_reason

    def test_first_token_is_reported_at_admission(self):
        draft, target = scripted_pair()
        engine = SpeculativeEngine(draft, target, slots=2, lookahead=3)
        rid = engine.submit([4, 5], 10)
        first = engine.step()
        assert [(e.request_id, e.tokens) for e in first] == [(rid, target.greedy([4, 5], 1))], (
            f"the admitting step must report the first token (from the prefill), got {first}"
        )


class TestEdgeCases:
    def test_max_tokens_zero_takes_no_slot_and_no_call(self):
        draft, target = scripted_pair()
        counted = BatchCounting(target)
        engine = SpeculativeEngine(draft, counted, slots=1, lookahead=2)
        rid = engine.submit([3, 4], 0)
        events = engine.step()
        assert [(e.request_id, e.tokens, e.finished) for e in events] == [(rid, [], True)], (
            f"max_tokens=0 finishes at the next step with no tokens, got {events}"
        )
        assert counted.calls == 0 and not engine.has_work(), "and it never reaches the model"
        # Behind a real request, in the same admission: still no slot and no prefill row.
        counted = BatchCounting(target)
        engine = SpeculativeEngine(draft, counted, slots=2, lookahead=2)
        real, zero = engine.submit([5], 3), engine.submit([6, 7], 0)
        engine.step()
        assert counted.shapes[0][0] == 1 and engine.result(zero).target_calls == 0, (
            f"a max_tokens=0 request admitted with another must not be prefilled (prefill of "
            f"{counted.shapes[0][0]} rows): it takes no slot and no model call"
        )
        assert engine.result(zero).tokens == [] and engine.result(real).tokens

    def test_empty_prompt_is_refused_at_submit(self):
        draft, target = scripted_pair()
        engine = SpeculativeEngine(draft, target, slots=1)
        with pytest.raises(ValueError, match="prompt"):
            engine.submit([], 5)
        with pytest.raises(ValueError):
            engine.submit([1], -1)
        assert not engine.has_work(), "a refused request must not be queued"

    def test_cancel_waiting_and_live(self):
        draft, target = scripted_pair()
        engine = SpeculativeEngine(draft, target, slots=1, lookahead=2)
        live = engine.submit(prompt_for(2), 40)
        waiting = engine.submit(prompt_for(3), 40)
        other = engine.submit(prompt_for(4), 6)
        engine.step()
        engine.step()
        assert engine.cancel(live) and engine.cancel(waiting)
        assert not engine.cancel(live), "cancelling twice returns False"
        assert not engine.cancel(99), "an unknown id returns False"
        events = engine.step()
        cancelled = {e.request_id for e in events if e.finish_reason == "cancelled"}
        assert cancelled == {live, waiting}, f"both must be reported cancelled, got {events}"
        n = len(engine.result(live).tokens)
        engine.run()
        assert len(engine.result(live).tokens) == n, "a cancelled request got more tokens"
        assert engine.result(other).tokens == target.greedy(prompt_for(4), 6), (
            "the request behind the cancelled ones must still be decoded, unchanged"
        )
        assert not engine.cancel(other), "a finished request cannot be cancelled"

    def test_eos_inside_accepted_drafts(self):
        draft, target = scripted_pair(every=1000)  # the draft is (almost) always right
        full = target.greedy([2, 3], 20)
        eos = full[5]  # emitted inside a fully accepted round of K = 4
        engine = SpeculativeEngine(draft, target, slots=2, lookahead=4, eos_token_id=eos)
        rid = engine.submit([2, 3], 20)
        engine.run()
        want = full[: full.index(eos) + 1]
        res = engine.result(rid)
        assert res.tokens == want and res.finish_reason == "eos", (
            f"EOS {eos} accepted as a draft must end the request there (kept, nothing after): "
            f"want {want} 'eos', got {res.tokens} {res.finish_reason!r}"
        )

    def test_no_draft_model_needs_lookahead_zero(self):
        _, target = scripted_pair()
        with pytest.raises(ValueError, match="lookahead=0"):
            SpeculativeEngine(None, target, slots=2, lookahead=3)
        with pytest.raises(ValueError):
            SpeculativeEngine(None, target, slots=0, lookahead=0)

    def test_result_of_an_unknown_request(self):
        _, target = scripted_pair()
        with pytest.raises(KeyError, match="submit"):
            SpeculativeEngine(None, target, lookahead=0).result(3)


class TestSampled:
    def test_requests_follow_the_targets_law_whenever_they_join(self):
        probs = random_markov(4, seed=7)
        target, draft = BatchMarkov(probs), BatchMarkov(perturbed(probs, 0.5, seed=8))
        engine = SpeculativeEngine(draft, target, slots=64, lookahead=2, temperature=1.0)
        ids = []
        for wave in range(12):  # waves join a batch that is mid-way through earlier ones
            ids += [
                engine.submit([0, 2, 3], 3, key=mx.random.key(100 * wave + i)) for i in range(60)
            ]
            engine.step()
        results = engine.run()
        assert_follows(
            Counter(tuple(results[r].tokens) for r in ids),
            exact_sequence_distribution(probs, 3, 3, temperature=1.0),
            what="requests admitted at different times must each follow the target's joint law",
        )

    def test_same_key_same_tokens_whoever_shares_the_batch(self):
        # Exact table models: a row's logits do not depend on the batch, so a request's tokens
        # must depend on its key alone (each row splits its own key, never a batch key).
        probs = random_markov(6, seed=2)
        target, draft = BatchMarkov(probs), BatchMarkov(perturbed(probs, 0.6, seed=3))
        alone = SpeculativeEngine(draft, target, slots=4, lookahead=3, temperature=1.0)
        rid = alone.submit([1, 4], 25, key=mx.random.key(5))
        solo = alone.run()[rid].tokens
        crowd = SpeculativeEngine(draft, target, slots=4, lookahead=3, temperature=1.0)
        others = [crowd.submit([i % 6], 9 + i, key=mx.random.key(50 + i)) for i in range(3)]
        crowd.step()
        crowd.step()
        rid = crowd.submit([1, 4], 25, key=mx.random.key(5))
        assert others and crowd.run()[rid].tokens == solo, (
            "the same request with the same key gave different tokens when it joined a busy "
            "batch: draw each row's randomness from its own key (split per round and per draft "
            "step), and verify a sampled row on its own counts"
        )
