"""Tests of the test models in specdec_course.testing (the course's own tools)."""

from __future__ import annotations

import itertools

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache, trim_prompt_cache

from specdec_course.testing import (
    LOG_ZERO,
    CountingModel,
    MarkovModel,
    ScriptedModel,
    exact_next_distribution,
    exact_sequence_distribution,
    perturbed,
    random_markov,
    tiny_llama,
    tiny_pair,
    untrimmable,
)
from specdec_course.testing.ties import logit_atol

VOCAB = 16


def ids(*tokens: int) -> mx.array:
    """A (1, L) int32 batch, as a caller would pass tokens[None]."""
    return mx.array(list(tokens), dtype=mx.int32)[None]


def greedy(model, prompt: list[int], n: int) -> list[int]:
    cache = make_prompt_cache(model)
    logits = model(ids(*prompt), cache=cache)
    out = []
    for _ in range(n):
        out.append(int(mx.argmax(logits[0, -1]).item()))
        logits = model(ids(out[-1]), cache=cache)
    return out


def history_script(i: int, history: list[int]) -> int:
    # Depends on the whole history, so a model that forgot (or failed to
    # forget) tokens after a trim would predict something else.
    return (sum(history) * 7 + i) % VOCAB


def make_llama():
    return tiny_llama(3, vocab_size=VOCAB)


def make_scripted():
    return ScriptedModel(VOCAB, history_script)


def make_markov():
    return MarkovModel(random_markov(VOCAB, 5))


FACTORIES = {"llama": make_llama, "scripted": make_scripted, "markov": make_markov}


# ---------------------------------------------------------------------------
# The mlx-lm convention, for every model
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", FACTORIES)
def test_shapes_dtypes_and_cache_offsets(name):
    model = FACTORIES[name]()
    cache = make_prompt_cache(model)
    assert can_trim_prompt_cache(cache)
    logits = model(ids(1, 2, 3), cache=cache)
    assert logits.shape == (1, 3, VOCAB) and logits.dtype == mx.float32
    assert all(c.offset == 3 for c in cache)
    logits = model(ids(4), cache=cache)
    assert logits.shape == (1, 1, VOCAB)
    assert all(c.offset == 4 for c in cache)


@pytest.mark.parametrize("name", FACTORIES)
def test_incremental_calls_equal_one_full_call(name):
    model = FACTORIES[name]()
    tokens = [3, 1, 4, 1, 5, 9, 2, 6]
    full = model(ids(*tokens))  # cache=None: positions start at 0
    cache = make_prompt_cache(model)
    parts, start = [], 0
    for size in (3, 1, 2, 1, 1):
        parts.append(model(ids(*tokens[start : start + size]), cache=cache))
        start += size
    # Different call shapes round differently on GPUs (~2e-3 measured on CUDA): compare with
    # the backend-robust tolerance (specdec_course.testing.ties.logit_atol).
    np.testing.assert_allclose(
        np.array(mx.concatenate(parts, axis=1)), np.array(full), atol=logit_atol(full), rtol=0
    )


@pytest.mark.parametrize("name", FACTORIES)
def test_trim_rewinds_exactly(name):
    model = FACTORIES[name]()
    cache = make_prompt_cache(model)
    model(ids(3, 1, 4, 1), cache=cache)
    model(ids(5, 9, 2), cache=cache)  # a "proposal" that gets rejected
    assert trim_prompt_cache(cache, 2) == 2
    assert cache[0].offset == 5
    after = model(ids(7, 7), cache=cache)
    fresh = model(ids(3, 1, 4, 1, 5, 7, 7))[:, -2:]
    np.testing.assert_allclose(np.array(after), np.array(fresh), atol=logit_atol(fresh), rtol=0)
    assert cache[0].offset == 7


# ---------------------------------------------------------------------------
# tiny_llama / tiny_pair
# ---------------------------------------------------------------------------


def test_tiny_llama_is_small_deterministic_float32():
    a, b, c = tiny_llama(0), tiny_llama(0), tiny_llama(1)
    params = tree_flatten(a.parameters())
    assert sum(v.size for _, v in params) < 50_000
    assert all(v.dtype == mx.float32 for _, v in params)
    x = ids(1, 2, 3, 4)
    assert np.array_equal(np.array(a(x)), np.array(b(x)))
    assert not np.allclose(np.array(a(x)), np.array(c(x)))
    assert a.args.vocab_size == 64 and len(make_prompt_cache(a)) == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_llama_greedy_is_not_degenerate(seed):
    out = greedy(tiny_llama(seed), [1, 2, 3], 24)
    assert len(set(out)) >= 8, out
    changes = sum(x != y for x, y in zip(out, out[1:]))
    assert changes >= 16, out


def test_tiny_llama_distributions_are_peaked_but_not_one_hot():
    probs = np.array(mx.softmax(tiny_llama(0)(ids(*range(20)))[0], axis=-1))
    top = probs.max(axis=-1)
    assert 0.15 < top.mean() < 0.9
    assert (top < 0.95).mean() > 0.75  # mostly several plausible tokens


def test_tiny_pair_draft_agrees_often_but_not_always():
    draft, target = tiny_pair(0)
    assert draft.args.vocab_size == target.args.vocab_size
    assert np.array_equal(np.array(target(ids(1, 2))), np.array(tiny_llama(0)(ids(1, 2))))
    sequence = ids(1, 2, 3, *greedy(target, [1, 2, 3], 40))
    t_logits, d_logits = target(sequence)[0], draft(sequence)[0]
    agree = float((mx.argmax(t_logits, -1) == mx.argmax(d_logits, -1)).astype(mx.float32).mean())
    assert 0.4 < agree < 0.95, agree
    p, q = mx.softmax(t_logits, -1), mx.softmax(d_logits, -1)
    acceptance = float(mx.minimum(p, q).sum(-1).mean())
    assert 0.6 < acceptance < 0.95, acceptance


def test_tiny_pair_without_noise_is_identical():
    draft, target = tiny_pair(1, noise=0.0)
    x = ids(5, 6, 7)
    assert np.array_equal(np.array(draft(x)), np.array(target(x)))


# ---------------------------------------------------------------------------
# ScriptedModel
# ---------------------------------------------------------------------------


def argmaxes(logits: mx.array) -> list[int]:
    return mx.argmax(logits[0], axis=-1).tolist()


def test_scripted_positions_docstring_example():
    m = ScriptedModel(10, [5, 6, 7, 8])
    cache = make_prompt_cache(m)
    assert argmaxes(m(ids(3, 4), cache=cache)) == [5, 6]
    assert argmaxes(m(ids(9), cache=cache)) == [7]
    trim_prompt_cache(cache, 2)
    assert cache[0].offset == 1
    assert argmaxes(m(ids(0, 0), cache=cache)) == [6, 7]
    assert argmaxes(m(ids(1, 1, 1, 1))) == [5, 6, 7, 8]  # no cache: from 0


def test_scripted_peak_and_logit_values():
    m = ScriptedModel(10, [2, 3], peak=20.0)
    logits = np.array(m(ids(0, 0)))
    assert logits[0, 0, 2] == 20.0 and logits[0, 0].sum() == 20.0
    p = np.array(mx.softmax(m(ids(0))[0, 0]))
    assert p[2] > 0.9999


def test_scripted_callable_sees_history_across_calls_and_trims():
    seen = []

    def script(i, history):
        seen.append((i, tuple(history)))
        return history[-1]  # "repeat the last token"

    m = ScriptedModel(VOCAB, script)
    cache = make_prompt_cache(m)
    assert argmaxes(m(ids(4, 5), cache=cache)) == [4, 5]
    m(ids(6, 7), cache=cache)
    trim_prompt_cache(cache, 1)
    seen.clear()
    assert argmaxes(m(ids(9), cache=cache)) == [9]
    assert seen == [(3, (4, 5, 6, 9))]


def test_scripted_for_prompt_and_default():
    prompt, continuation = [1, 2, 3], [7, 8, 9, 0]
    m = ScriptedModel.for_prompt(VOCAB, prompt, continuation, default=15)
    assert greedy(m, prompt, 6) == continuation + [15, 15]
    plain = ScriptedModel(VOCAB, [1, 2])
    with pytest.raises(IndexError, match="position 2"):
        plain(ids(0, 0, 0))


def test_scripted_batch_rows_have_their_own_history():
    m = ScriptedModel(VOCAB, lambda i, h: h[-1])
    logits = m(mx.array([[1, 2], [3, 4]], dtype=mx.int32))
    assert mx.argmax(logits, -1).tolist() == [[1, 2], [3, 4]]


def test_toy_models_reject_what_a_real_model_would_reject():
    m = make_scripted()
    with pytest.raises(ValueError, match="tokens\\[None\\]"):
        m(mx.array([1, 2], dtype=mx.int32))
    with pytest.raises(TypeError):
        m([[1, 2]])
    with pytest.raises(ValueError, match="out of range"):
        m(ids(VOCAB))
    with pytest.raises(ValueError, match="does not belong"):
        # A transformer's cache handed to the toy model.
        llama = make_llama()
        cache = make_prompt_cache(llama)
        llama(ids(1), cache=cache)
        m(ids(1), cache=cache)


# ---------------------------------------------------------------------------
# MarkovModel and exact distributions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_markov_softmax_matches_exact_next_distribution(temperature):
    probs = random_markov(8, 1)
    probs[:, 3] = 0.0  # token 3 is impossible everywhere
    probs /= probs.sum(axis=1, keepdims=True)
    model = MarkovModel(probs)
    logits = model(ids(*range(8)))[0]
    got = np.array(mx.softmax(logits / temperature, axis=-1))
    assert not np.isnan(got).any()
    for last in range(8):
        want = exact_next_distribution(probs, last, temperature)
        np.testing.assert_allclose(got[last], want, atol=1e-6)
        assert got[last, 3] == 0.0
    assert np.array(logits)[:, 3].max() == LOG_ZERO


def test_markov_greedy_and_temperature_zero():
    probs = random_markov(8, 2)
    model = MarkovModel(probs)
    for last in range(8):
        want = exact_next_distribution(probs, last, 0.0)
        assert want.sum() == 1.0 and want[np.argmax(probs[last])] == 1.0
        assert argmaxes(model(ids(last)))[0] == np.argmax(probs[last])


def test_markov_model_rejects_bad_matrices():
    with pytest.raises(ValueError):
        MarkovModel(np.ones((3, 3)))
    with pytest.raises(ValueError):
        MarkovModel(np.full((2, 3), 1 / 3))


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_exact_sequence_distribution_is_the_brute_force_product(temperature):
    probs = random_markov(5, 3)
    probs[0, 1] = 0.0
    probs /= probs.sum(axis=1, keepdims=True)
    dist = exact_sequence_distribution(probs, 2, 3, temperature)
    assert abs(sum(dist.values()) - 1.0) < 1e-12
    for seq in itertools.product(range(5), repeat=3):
        p, last = 1.0, 2
        for t in seq:
            p *= exact_next_distribution(probs, last, temperature)[t]
            last = t
        assert dist.get(seq, 0.0) == pytest.approx(p, rel=1e-12, abs=0.0)
        if p == 0.0:
            assert seq not in dist


def test_random_markov_and_perturbed():
    a, b = random_markov(6, 0), random_markov(6, 0)
    assert a.shape == (6, 6) and np.array_equal(a, b)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    np.testing.assert_allclose(perturbed(a, 0.0, 1), a)
    q = perturbed(a, 0.3, 1)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    overlap = np.minimum(a, q).sum(axis=1)
    assert (overlap > 0.6).all() and (overlap < 1.0).all()
    with pytest.raises(ValueError):
        perturbed(a, 1.5, 0)


# ---------------------------------------------------------------------------
# Wrappers
# ---------------------------------------------------------------------------


def test_counting_model_counts_and_forwards():
    inner = tiny_llama(0)
    model = CountingModel(inner)
    assert model.args is inner.args and model.model_type == "llama"
    assert len(model.layers) == 2
    cache = make_prompt_cache(model)
    assert len(cache) == 2
    out = model(ids(1, 2, 3), cache=cache)
    model(ids(4), cache=cache)
    model(ids(5, 6))
    assert model.calls == 3
    assert model.tokens_per_call == [3, 1, 2]
    assert model.start_positions == [0, 3, None]
    assert model.total_tokens == 6
    assert np.array_equal(np.array(out), np.array(inner(ids(1, 2, 3))))
    model.reset()
    assert (model.calls, model.tokens_per_call, model.start_positions) == (0, [], [])
    assert model.wrapped is inner


def test_counting_wraps_toy_models_too():
    model = CountingModel(make_markov())
    cache = make_prompt_cache(model)
    model(ids(1, 2), cache=cache)
    assert model.calls == 1 and cache[0].offset == 2 and model.vocab_size == VOCAB


@pytest.mark.parametrize("name", FACTORIES)
def test_untrimmable_caches_are_detected(name):
    inner = FACTORIES[name]()
    model = untrimmable(inner)
    cache = make_prompt_cache(model)
    assert not can_trim_prompt_cache(cache)
    out = model(ids(1, 2, 3), cache=cache)
    assert trim_prompt_cache(cache, 1) == 0 and cache[0].offset == 3
    with pytest.raises(NotImplementedError):
        cache[0].trim(1)
    want = inner(ids(1, 2, 3))  # uncached: another kernel path on a GPU, hence logit_atol
    np.testing.assert_allclose(np.array(out), np.array(want), atol=logit_atol(want), rtol=0)
    # Wrapping changed only these caches, not the model's own.
    assert can_trim_prompt_cache(make_prompt_cache(inner))
