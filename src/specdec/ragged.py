# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 3 Day 1: ragged batches in MLX.

A batch of prompts of different lengths becomes one ``(B, W)`` token matrix by
padding every row on the LEFT, so that all rows end in the same column: the
last column then holds every row's newest token, and one forward pass gives
the next-token logits of the whole batch at ``logits[:, -1]``. The course's
:class:`~specdec_course.api.batching.RaggedKVCache` keeps the padding out of
attention and gives each row its own RoPE positions; this module builds the
padded prefill and a batched target-only decoder on top of it. Its output must
equal :func:`specdec.baseline.autoregressive_generate` row by row.
"""

from __future__ import annotations

from collections.abc import Iterable

import mlx.core as mx
import mlx.nn as nn

from specdec.sampling import logits_to_probs
from specdec_course.api.batching import (
    RaggedKVCache,
    budget_list,
    check_batchable,
    filter_rows,
    make_ragged_cache,
    prompt_lists,
)
from specdec_course.api.results import GenerationResult
from specdec_course.api.validation import check_temperature, eos_ids


def left_pad(sequences: list[list[int]], pad_id: int = 0) -> tuple[mx.array, list[int]]:
    """Right-align token lists in one matrix by padding on the left.

    Args:
        sequences: ``B >= 1`` lists of token ids; a row may be empty (it is
            then all padding).
        pad_id: the id written into padded slots. Any valid id works: the
            cache masks padded columns, so no row can see them.

    Returns:
        ``(tokens, left_padding)``: int32 ``tokens`` of shape ``(B, W)`` with
        ``W`` the longest row's length (``W`` may be 0), row ``b`` being
        ``[pad_id] * left_padding[b] + sequences[b]``; ``left_padding`` a list
        of ``B`` ints.
    """
    # TODO(W3D1): pad every row on the left to the longest row's length.
    #   1. W = the longest row's length; left_padding[b] = W - len(sequences[b]).
    #   2. Build the rows [pad_id] * left_padding[b] + sequences[b].
    #   3. Return them as an int32 mx.array of shape (B, W) (even when W == 0) and the paddings.
    raise NotImplementedError(
        "Week 3 Day 1 task `left_pad` is not written yet: see book chapter week3-01-ragged"
    )


def batched_prefill(
    model: nn.Module, sequences: list[list[int]], *, pad_id: int = 0
) -> tuple[list[RaggedKVCache], mx.array | None]:
    """Run a ragged batch through ``model`` in ONE forward pass.

    Args:
        model: an mlx-lm style model whose cache layers are plain ``KVCache``.
        sequences: ``B`` lists of token ids; rows may have different lengths
            and may be empty.
        pad_id: id for padded slots (see :func:`left_pad`).

    Returns:
        ``(cache, logits)``: a fresh cache from
        :func:`~specdec_course.api.batching.make_ragged_cache` holding every
        row (row ``b``'s ``offset`` is ``len(sequences[b])``), and float32
        logits of shape ``(B, V)`` predicting each row's next token (the last
        column; junk for an empty row). When every row is empty the model is
        not called and ``logits`` is ``None``.
    """
    # TODO(W3D1): one padded forward pass for the whole batch.
    #   1. Left-pad the rows (left_pad) and make a ragged cache with those paddings.
    #   2. If the padded width is 0, return (cache, None) without calling the model.
    #   3. Otherwise call the model once on the (B, W) matrix with that cache.
    #   4. Return the cache and the last column's logits as float32, shape (B, V).
    raise NotImplementedError(
        "Week 3 Day 1 task `batched_prefill` is not written yet: see book chapter week3-01-ragged"
    )


def sample_rows(logits: mx.array, temperature: float, key: mx.array | None = None) -> mx.array:
    """Pick one next token per row.

    Args:
        logits: shape ``(B, V)``, any float dtype.
        temperature: 0 = the argmax of each row (the key is ignored); ``> 0``
            samples every row from ``softmax(logits / T)`` independently.
        key: MLX PRNG key; one key draws the whole batch (``None``: global RNG).

    Returns:
        int32 array of shape ``(B,)``.
    """
    # TODO(W3D1): the batched version of sample_token.
    #   1. T == 0: argmax over the last axis.
    #   2. T > 0: probabilities with logits_to_probs, then one mx.random.categorical over
    #      their logs (a row of log-probabilities per batch row, one key for the batch).
    raise NotImplementedError(
        "Week 3 Day 1 task `sample_rows` is not written yet: see book chapter week3-01-ragged"
    )


def batched_generate(
    model: nn.Module,
    prompts: list[list[int]] | list[mx.array],
    max_tokens: int | list[int],
    *,
    temperature: float = 0.0,
    eos_token_id: int | Iterable[int] | None = None,
    key: mx.array | None = None,
    pad_id: int = 0,
) -> list[GenerationResult]:
    """Target-only decoding of a ragged batch: one forward pass per step for all rows.

    Rows finish independently (EOS or their own budget) and are removed from
    the batch (and its cache) as soon as they do, so finished rows cost
    nothing. Greedy output equals ``autoregressive_generate`` row by row.

    Args:
        model: an mlx-lm style model with plain ``KVCache`` layers.
        prompts: ``B >= 1`` prompts (lists of ints or 1-D int arrays), each
            at least one token long, of any lengths.
        max_tokens: the most tokens per row: one int for all rows or a list
            of ``B`` ints (0 allowed: that row gets no tokens and no calls).
        temperature: 0 for greedy, > 0 to sample.
        eos_token_id: an id or ids that end a row (the EOS is kept).
        key: PRNG key, split once per step, for reproducible sampling.
        pad_id: id for padded slots; changing it never changes the output.

    Returns:
        One :class:`GenerationResult` per prompt, in order. ``target_calls``
        counts the forward passes the row took part in (prefill included),
        so a row of ``n`` tokens has ``n``, as in single-sequence decoding.

    Raises:
        TypeError, ValueError: for an empty batch, an empty prompt, a bad
            ``max_tokens`` or temperature, or a model whose cache cannot be
            batched - before the model runs.
    """
    # TODO(W3D1): batched target-only decoding with finished rows filtered out.
    #   1. Validate: prompt_lists, budget_list, check_temperature, eos_ids, check_batchable.
    #   2. Rows with a budget of 0 are done already; prefill the others in one batched_prefill.
    #   3. Loop: split the key, sample_rows on the logits, append each row's token.
    #   4. A row is done at EOS or at its budget: drop it with filter_rows (cache AND
    #      your list of live rows), then stop when none are left.
    #   5. Feed the live rows' new tokens as a (B_live, 1) batch; count target_calls per row.
    raise NotImplementedError(
        "Week 3 Day 1 task `batched_generate` is not written yet: see book chapter week3-01-ragged"
    )
