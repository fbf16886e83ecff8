"""Hidden tests, Week 1 Day 2 (instructor-only).

What the public tests do not show: sampling with the default key, an EOS as the
very first token, and a bad temperature refused before the model runs.
"""

import math

import mlx.core as mx
import numpy as np
import pytest

from specdec.baseline import autoregressive_generate
from specdec_course.testing import CountingModel, MarkovModel, ScriptedModel, random_markov

pytestmark = pytest.mark.w1d2


def test_sampling_with_the_default_key():
    # Bug caught: mx.random.split(key) without handling key=None crashes at T > 0.
    model = MarkovModel(random_markov(6, seed=3, concentration=2.0))
    mx.random.seed(1)
    result = autoregressive_generate(model, [1, 2], 8, temperature=1.0)
    assert len(result.tokens) == 8 and all(type(t) is int and 0 <= t < 6 for t in result.tokens), (
        f"temperature=1.0 with key=None must sample 8 tokens, got {result.tokens}"
    )


def test_eos_as_the_first_token_costs_one_pass():
    # Bug caught: the EOS check after the next forward pass (an extra pass), or EOS dropped.
    model = CountingModel(ScriptedModel.for_prompt(10, [3, 4], [7, 1, 2], default=0))
    result = autoregressive_generate(model, [3, 4], 5, eos_token_id=7)
    assert result.tokens == [7], f"the first token is the EOS 7: want [7], got {result.tokens}"
    assert result.finish_reason == "eos", (
        f"finish_reason must be 'eos', got {result.finish_reason!r}"
    )
    assert model.calls == 1 and result.target_calls == 1, (
        f"EOS on the first token: only the prefill pass is needed, made {model.calls} "
        f"(reported {result.target_calls})"
    )


@pytest.mark.parametrize("temperature", [-0.5, math.nan, math.inf])
def test_bad_temperature_is_refused_before_the_model_runs(temperature):
    # Bug caught: the temperature checked only inside sample_token, after the prefill ran.
    model = CountingModel(MarkovModel(np.full((4, 4), 0.25)))
    with pytest.raises(ValueError):
        autoregressive_generate(model, [1, 2], 3, temperature=temperature)
    assert model.calls == 0, (
        f"temperature={temperature}: refuse it before any forward pass, {model.calls} ran"
    )
