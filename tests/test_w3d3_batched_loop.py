"""Week 3 Day 3 - the batched speculative loop (book chapter week3-03-batched-loop)."""

from collections import Counter

import mlx.core as mx
import pytest

import specdec.batched
from specdec.batched import batched_speculative_decode, batched_speculative_generate
from specdec_course.testing import (
    exact_sequence_distribution,
    perturbed,
    random_markov,
    tiny_llama,
    tiny_pair,
)
from specdec_course.testing.diffs import token_mismatch
from specdec_course.testing.stats import assert_follows
from specdec_course.testing.ties import assert_greedy_equal_or_tie
from tests.w1_helpers import BUNDLED_PROMPTS, bundled_greedy, bundled_pair
from tests.w3_helpers import (
    BatchCounting,
    BatchMarkov,
    HistoryScripted,
    clear_ragged_prompts,
    first_difference,
    greedy_speculation,
    history_hash,
    sometimes_wrong,
)

pytestmark = pytest.mark.w3d3

V = 32


def scripted_pair(every=3, vocab=V):
    """(draft, target) whose choices depend on the whole visible history; the draft is
    wrong at about 1 in ``every`` positions. Stale or padded tokens in a cache change the
    output, and the exact expected output comes from the script alone."""
    script = history_hash(vocab)
    target = HistoryScripted(vocab, script)
    draft = HistoryScripted(vocab, sometimes_wrong(script, vocab, every))
    return draft, target


PROMPTS = [[5], list(range(1, 30)), [7, 7, 2], [3] * 12, [30, 1]]


def check_rows(results, target, prompts, budgets, what, eos=None):
    assert len(results) == len(prompts), f"one result per prompt, in order: got {len(results)}"
    for b, (p, r) in enumerate(zip(prompts, results, strict=True)):
        want = target.greedy(p, budgets[b], eos)
        assert r.tokens == want, token_mismatch(
            r.tokens,
            want,
            "a row's caches not rewound by its OWN count (K - accepted), or padding visible",
            what=f"{what}: row {b} (prompt length {len(p)}, max_tokens {budgets[b]}) against "
            "single-sequence greedy",
        )


class TestGreedyIsLossless:
    @pytest.mark.parametrize("k", [1, 3, 6])
    def test_history_model_equals_target_greedy(self, k):
        draft, target = scripted_pair()
        results = batched_speculative_generate(PROMPTS, draft, target, 25, lookahead=k)
        check_rows(results, target, PROMPTS, [25] * 5, f"K={k}")
        # Equal budgets, no EOS: every round has the same K as B = 1, so each row's accepted
        # counts are those of greedy speculation by its definition (uncached passes).
        runs = [greedy_speculation(draft, target, p, 25, k) for p in PROMPTS]
        every = [a for _, accepted, _ in runs for a in accepted]
        assert 0 in every and k in every, "test setup: want both rejections and full accepts"
        for b, (r, (_, want, drafted)) in enumerate(zip(results, runs, strict=True)):
            n = min(len(drafted), len(r.drafted_per_round))  # a round count is the next check's
            assert r.drafted_per_round[:n] == drafted[:n], (
                f"K={k}: row {b} drafted {r.drafted_per_round} per round, want {drafted}: with "
                "equal budgets K = min(lookahead, the LARGEST remaining budget - 1) and each "
                "row counts min(K, its own remaining - 1)"
            )
            assert r.accepted_per_round == want, (
                f"K={k}: row {b} accepted {r.accepted_per_round} per round, greedy speculation "
                f"accepts {want}. The output is right, so the DRAFT proposed from a wrong "
                "context: its cache not rewound by the row's own K - n (a stale draft token "
                "left), or the pending tokens not ctx[-2:]"
            )

    @pytest.mark.parametrize("batch,k,seed", [(4, 3, 5), (8, 2, 10), (8, 5, 11), (2, 6, 6)])
    def test_tiny_llamas_equal_target_greedy(self, batch, k, seed):
        draft, target = tiny_pair(seed)
        prompts, wants = clear_ragged_prompts(target, batch, 20, seed)
        results = batched_speculative_generate(prompts, draft, target, 20, lookahead=k)
        for b, (p, r, want) in enumerate(zip(prompts, results, wants, strict=True)):
            i = first_difference(r.tokens, want)
            assert r.tokens == want, (
                f"B={batch}, K={k}: row {b} (prompt length {len(p)}) differs from target greedy "
                f"at token {i} (got {r.tokens[i : i + 3]}, want {want[i : i + 3]})"
            )

    def test_bundled_pair(self):
        draft, target, tokenizer = bundled_pair()
        # Two ragged rows, 12 tokens: the 12-layer target keeps the day under 15 s.
        texts = [BUNDLED_PROMPTS[1], "x"]
        prompts = [tokenizer.encode(t) for t in texts]
        results = batched_speculative_generate(prompts, draft, target, 12, lookahead=3)
        for b, (text, r) in enumerate(zip(texts, results, strict=True)):
            prompt, want = bundled_greedy(text, 12)
            # Real float32 logits: equal token for token except at named near-ties.
            assert_greedy_equal_or_tie(
                target,
                prompt,
                r.tokens,
                want,
                what=f"bundled pair, row {b}: batched speculative output vs target greedy",
            )

    def test_batch_of_one_is_greedy_speculation(self):
        # Seed 7: clear margins everywhere, and rounds that accept 0, some and all 4 drafts.
        draft, target = tiny_pair(7)
        for prompt, n in [([4, 9, 1, 3], 23), ([8], 7)]:
            got = batched_speculative_generate([prompt], draft, target, n, lookahead=4)[0]
            # The definition (uncached passes, no Week 1 code), so a Week 1 bug is not blamed here.
            tokens, accepted, drafted = greedy_speculation(draft, target, prompt, n, 4)
            assert got.tokens == tokens, (
                f"B = 1: {got.tokens}, greedy speculative decoding gives {tokens}"
            )
            assert got.accepted_per_round == accepted, (
                f"B = 1: accepted per round {got.accepted_per_round}, want {accepted}"
            )
            assert got.drafted_per_round == drafted, (
                f"B = 1: drafted per round {got.drafted_per_round}, want {drafted} (K, cut so "
                "that a round never drafts past max_tokens)"
            )
            want_calls = len(accepted) + (len(prompt) > 1)
            assert got.target_calls == want_calls, (
                f"B = 1: {got.target_calls} target calls, want {want_calls}: one per round, plus "
                "the prefill when the prompt has more than one token"
            )

    def test_identical_prompts_identical_rows(self):
        draft, target = tiny_pair(2)
        results = batched_speculative_generate([[1, 2, 3]] * 3 + [[9]], draft, target, 15)
        assert results[0].tokens == results[1].tokens == results[2].tokens, (
            "identical prompts gave different rows: a row's state mixed up with another row's"
        )
        assert results[0].accepted_per_round == results[2].accepted_per_round, (
            "identical prompts accepted differently per round: per-row bookkeeping mixed up"
        )


class TestRaggedBookkeeping:
    def test_all_rows_of_length_one_need_no_prefill(self):
        draft, target = scripted_pair()
        draft, target = BatchCounting(draft), BatchCounting(target)
        prompts = [[1], [2], [3]]
        results = batched_speculative_generate(prompts, draft, target, 10, lookahead=3)
        check_rows(results, target, prompts, [10] * 3, "one-token prompts")
        assert target.shapes[0][1] == 4, (
            f"first target call fed {target.shapes[0][1]} tokens: with one-token prompts there is "
            "nothing to prefill, the first call is a verify call of K + 1 = 4 tokens"
        )

    def test_all_rows_reject_at_position_zero(self):
        script = history_hash(V)
        target = HistoryScripted(V, script)
        draft = HistoryScripted(V, lambda h: (script(h) + 1) % V)  # always wrong
        results = batched_speculative_generate(PROMPTS, draft, target, 12, lookahead=4)
        check_rows(results, target, PROMPTS, [12] * 5, "a draft that is always wrong")
        for r in results:
            assert set(r.accepted_per_round) == {0} and r.rounds == 12, (
                f"every round should accept 0 and emit 1 target token: {r.accepted_per_round}"
            )

    def test_one_row_hits_eos_early(self):
        draft, target = scripted_pair()
        eos = target.greedy(PROMPTS[2], 40)[3]  # row 2 emits it as its 4th token
        results = batched_speculative_generate(
            PROMPTS, draft, target, 30, lookahead=3, eos_token_id=eos
        )
        check_rows(results, target, PROMPTS, [30] * 5, "EOS in one row", eos=eos)
        assert results[2].finish_reason == "eos" and results[2].tokens[-1] == eos, (
            "a row stops right after its EOS (kept), nothing after it"
        )
        assert any(len(r.tokens) == 30 for r in results), "the other rows must go on"

    def test_eos_inside_one_rows_accepted_drafts(self):
        # A draft that is never wrong: every round of a row accepts all K = 4 drafts, so row
        # 2's EOS (its 2nd token) is an accepted draft in the MIDDLE of its first round.
        script = history_hash(V)
        draft, target = HistoryScripted(V, script), HistoryScripted(V, script)
        eos = target.greedy(PROMPTS[2], 20)[1]
        results = batched_speculative_generate(
            PROMPTS, draft, target, 20, lookahead=4, eos_token_id=eos
        )
        wants = [target.greedy(p, 20, eos) for p in PROMPTS]
        assert len(wants[2]) == 2 and any(len(w) == 20 for w in wants), "test setup"
        for b, (r, want) in enumerate(zip(results, wants, strict=True)):
            assert r.tokens == want, (
                f"row {b}: got {r.tokens}, want {want}: EOS {eos} is an accepted draft inside "
                "row 2's first round; look for the EOS among ALL emitted tokens of the round "
                "and cut right after it"
            )
        assert results[2].finish_reason == "eos", (
            f"row 2 stopped at its EOS, finish_reason {results[2].finish_reason!r}, want 'eos'"
        )

    def test_budgets_per_row_including_zero_and_smaller_than_k(self):
        draft, target = scripted_pair()
        draft, target = BatchCounting(draft), BatchCounting(target)
        budgets = [0, 1, 2, 5, 13]
        results = batched_speculative_generate(PROMPTS, draft, target, budgets, lookahead=6)
        check_rows(results, target, PROMPTS, budgets, "per-row max_tokens")
        for b, (r, m) in enumerate(zip(results, budgets, strict=True)):
            assert len(r.tokens) == m, (
                f"row {b} has max_tokens={m} but got {len(r.tokens)} tokens: a round may emit up "
                "to K + 1 tokens, so a row with less budget left counts fewer drafts (num_draft)"
            )
            assert all(d <= m - 1 for d in r.drafted_per_round), (
                f"row {b} (max_tokens={m}) recorded drafts {r.drafted_per_round}: it can never "
                "use more than remaining - 1 draft tokens"
            )
        assert results[0].target_calls == 0 and results[0].rounds == 0, (
            "a row with max_tokens=0 never enters the batch"
        )
        assert all(bsz <= 4 for bsz, _ in target.shapes), "the 0-budget row must not be batched"

    def test_padding_id_is_invisible(self, monkeypatch):
        draft, target = scripted_pair()
        outputs = []
        for pad in (0, 17):
            monkeypatch.setattr(specdec.batched, "PAD_ID", pad)
            results = batched_speculative_generate(PROMPTS, draft, target, 14, lookahead=3)
            check_rows(results, target, PROMPTS, [14] * 5, f"PAD_ID={pad}")
            outputs.append([r.tokens for r in results])
            assert all(-1 not in r.tokens for r in results), (
                "a placeholder -1 leaked into the output: emit only tokens[b, :n_b + 1]"
            )
        assert outputs[0] == outputs[1], "changing PAD_ID changed the output"


class TestCalls:
    def test_one_target_call_per_round_for_the_whole_batch(self):
        draft, target = scripted_pair()
        draft, target = BatchCounting(draft), BatchCounting(target)
        budgets = [25, 9, 25, 3, 17]
        results = batched_speculative_generate(PROMPTS, draft, target, budgets, lookahead=4)
        rounds = max(r.rounds for r in results)
        assert target.calls == 1 + rounds, (
            f"{target.calls} target calls for {rounds} rounds: one batched prefill plus exactly "
            "ONE batched target call per round for all rows"
        )
        assert [bsz for bsz, _ in target.shapes[1:]] == [
            sum(r.rounds > i for r in results) for i in range(rounds)
        ], "finished rows must leave the batch (filter_rows) right after their last round"
        for b, r in enumerate(results):
            assert r.target_calls == 1 + r.rounds, (
                f"row {b} (prompt {PROMPTS[b]}): target_calls {r.target_calls}, want the batched "
                f"prefill + its {r.rounds} rounds = {1 + r.rounds}. The prefill counts for EVERY "
                "live row in it, a one-token prompt's all-padding row included"
            )
        lengths = [length for _, length in target.shapes[1:]]
        assert all(length <= 5 for length in lengths), f"verify calls fed {lengths} tokens"
        assert draft.calls == 1 + sum(length - 1 for length in lengths), (
            f"{draft.calls} draft calls: expected one batched prefill plus K batched draft calls "
            "per round (one call per draft step for the whole batch)"
        )


class TestSampledIsLossless:
    @pytest.mark.parametrize("temperature,k", [(1.0, 2), (0.7, 3)])
    def test_rows_follow_the_targets_distribution(self, temperature, k):
        # 3 different prompts x 1000 rows in ONE batch: every row is an independent sample.
        probs = random_markov(4, seed=7)
        target, draft = BatchMarkov(probs), BatchMarkov(perturbed(probs, 0.5, seed=8))
        prompts = [[1], [0, 2, 3], [3, 3]] * 1000
        results = batched_speculative_generate(
            prompts, draft, target, 3, lookahead=k, temperature=temperature, key=mx.random.key(11)
        )
        for b, last in enumerate([1, 3, 3]):
            assert_follows(
                Counter(tuple(r.tokens) for r in results[b::3]),
                exact_sequence_distribution(probs, last, 3, temperature=temperature),
                what=f"prompt {prompts[b]}, T={temperature}, K={k}: each row's 3 sampled tokens "
                "must follow the target's joint distribution (split the draft key every draft "
                "step and keep a separate verify key)",
            )

    def test_same_key_same_output(self):
        draft, target = tiny_pair(3)
        prompts = [[1, 2], [5], [6, 7, 8, 9]]
        runs = [
            batched_speculative_generate(
                prompts, draft, target, 12, lookahead=3, temperature=1.0, key=mx.random.key(4)
            )
            for _ in range(2)
        ]
        assert [r.tokens for r in runs[0]] == [r.tokens for r in runs[1]], (
            "same key must give the same rows"
        )


def check_card_shape(out, prompts, call):
    """``out`` is list[list[int]], one plain list of Python ints per prompt."""
    assert type(out) is list, (
        f"the card's call must return list[list[int]], got {type(out).__name__} from {call}"
    )
    assert len(out) == len(prompts), (
        f"the card's call must return list[list[int]], one list per prompt: got {len(out)} "
        f"lists for {len(prompts)} prompts from {call}"
    )
    for b, row in enumerate(out):
        assert type(row) is list, (
            f"the card's call must return list[list[int]], got a {type(row).__name__} for row "
            f"{b} from {call} (the tokens, not a GenerationResult)"
        )
        bad = [t for t in row if type(t) is not int]
        assert not bad, (
            f"the card's call must return list[list[int]], got {type(bad[0]).__name__} tokens "
            f"in row {b} from {call} (Python ints, not MLX scalars or arrays)"
        )


class TestTheCardsCall:
    """``batched_speculative_decode(batch_prompts, draft_model, target_model, max_tokens=100)``:
    the course design card's call, a given wrapper returning each row's tokens."""

    def test_card_call_verbatim(self):
        draft, target = scripted_pair()
        prompts = PROMPTS
        out = batched_speculative_decode(prompts, draft, target)
        call = "batched_speculative_decode(prompts, draft, target)"
        check_card_shape(out, prompts, call)
        for b, (p, row) in enumerate(zip(prompts, out, strict=True)):
            want = target.greedy(p, 100)
            assert row == want, token_mismatch(
                row,
                want,
                "the default max_tokens must be 100, and the rows the target's own greedy tokens",
                what=f"{call}: row {b} (prompt length {len(p)}) against the target's greedy "
                "100 tokens",
            )

    def test_per_row_budgets_and_options_pass_through(self):
        draft, target = scripted_pair()
        eos = target.greedy(PROMPTS[2], 40)[3]  # row 2 stops at its 4th token
        budgets = [0, 1, 30, 7, 25]
        out = batched_speculative_decode(
            batch_prompts=PROMPTS,
            draft_model=draft,
            target_model=target,
            max_tokens=budgets,
            lookahead=3,
            eos_token_id=eos,
        )
        call = f"batched_speculative_decode(..., max_tokens={budgets}, lookahead=3, eos_token_id=…)"
        check_card_shape(out, PROMPTS, call)
        wants = [target.greedy(p, m, eos) for p, m in zip(PROMPTS, budgets, strict=True)]
        assert len(wants[2]) == 4, "test setup: row 2 must end at its EOS"
        assert out == wants, (
            f"{call} gave rows of lengths {[len(r) for r in out]}, want {[len(w) for w in wants]} "
            f"(got {out}, want {wants}): the wrapper must pass max_tokens per row and every "
            "keyword option on to batched_speculative_generate"
        )
        results = batched_speculative_generate(
            PROMPTS, draft, target, budgets, lookahead=3, eos_token_id=eos
        )
        assert out == [r.tokens for r in results], (
            "the card's call must equal [r.tokens for r in batched_speculative_generate(...)] "
            "with the same arguments"
        )

    def test_sampling_options_pass_through(self):
        draft, target = tiny_pair(3)
        prompts = [[1, 2], [5], [6, 7, 8, 9]]
        kw = {"lookahead": 2, "temperature": 1.0, "key": mx.random.key(4)}
        out = batched_speculative_decode(prompts, draft, target, 12, **kw)
        check_card_shape(out, prompts, "batched_speculative_decode(..., temperature=1.0, key=…)")
        results = batched_speculative_generate(prompts, draft, target, 12, **kw)
        assert out == [r.tokens for r in results], (
            f"with temperature=1.0 and the same key the card's call gave {out}, but "
            f"[r.tokens for r in batched_speculative_generate(...)] is "
            f"{[r.tokens for r in results]}: pass temperature, key and lookahead through"
        )
        greedy = batched_speculative_decode(prompts, draft, target, 12, lookahead=2)
        assert out != greedy, "test setup: sampling at T = 1.0 should differ from greedy"


class TestBadInput:
    @pytest.mark.parametrize(
        "prompts,max_tokens,kw,exc,match",
        [
            ([], 5, {}, ValueError, "empty"),
            ([[]], 5, {}, ValueError, "empty"),
            ([[1], [2]], [3, 4, 5], {}, ValueError, "max_tokens"),
            ([[1]], 5, {"lookahead": -1}, ValueError, "lookahead"),
            ([[1]], 5, {"temperature": float("nan")}, ValueError, "temperature"),
        ],
        ids=["empty-batch", "empty-prompt", "budget-list", "negative-k", "nan-temperature"],
    )
    def test_clear_error_before_any_call(self, prompts, max_tokens, kw, exc, match):
        draft, target = tiny_pair(0)
        draft, target = BatchCounting(draft), BatchCounting(target)
        with pytest.raises(exc, match=match):
            batched_speculative_generate(prompts, draft, target, max_tokens, **kw)
        assert draft.calls == target.calls == 0, "check the input before running any model"

    def test_mismatched_vocabularies(self):
        draft, target = BatchCounting(tiny_llama(0, vocab_size=48)), BatchCounting(tiny_llama(0))
        with pytest.raises(ValueError, match="vocabular"):
            batched_speculative_generate([[1, 2]], draft, target, 5)
        assert draft.calls == target.calls == 0, (
            f"{draft.calls} draft and {target.calls} target calls before the vocabulary error: "
            "compare the vocabularies before running any model"
        )
