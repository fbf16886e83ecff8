"""specdec_course.testing.guards: edge cases that fail with a message naming the bug.

Bugs caught (in student code, by the message): a model fed zero tokens (a cache that was not
trimmed, an empty draft list fed), a K = 0 case that reaches an MLX reduction of a zero-size
array, and a batch fed to a cache that still holds rows which left the batch.
"""

import mlx.core as mx
import pytest

from specdec_course.api.batching import RaggedKVCache
from specdec_course.testing import CountingModel, MarkovModel, random_markov, tiny_llama
from specdec_course.testing.guards import refuse_other_batch, zero_size


@pytest.mark.parametrize(
    "model",
    [tiny_llama(0), CountingModel(tiny_llama(0)), MarkovModel(random_markov(4, seed=0))],
    ids=["tiny", "counting", "markov"],
)
def test_test_models_refuse_an_empty_input_naming_the_bug(model):
    with pytest.raises(AssertionError, match="empty batch of token ids.*not trimmed"):
        model(mx.array([], dtype=mx.int32)[None])


def test_zero_size_names_the_case_for_an_mlx_error_only():
    with pytest.raises(AssertionError, match=r"K = 0: your code hit an MLX error.*emit it"):
        with zero_size("K = 0", "emit it"):
            mx.argmax(mx.zeros((0, 4)), axis=-1)
    with pytest.raises(KeyError):  # not MLX's: passes through unchanged
        with zero_size("K = 0", "emit it"):
            raise KeyError("x")


def test_a_batch_fed_to_a_cache_of_other_rows_names_filter_rows():
    cache = [RaggedKVCache([0, 0, 0])]
    with pytest.raises(AssertionError, match=r"fed 2 rows but its cache holds 3.*filter_rows"):
        refuse_other_batch(mx.zeros((2, 1), dtype=mx.int32), cache, "model")
    refuse_other_batch(mx.zeros((3, 1), dtype=mx.int32), cache, "model")  # same rows: fine
