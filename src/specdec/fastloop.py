# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 4 Day 3: the fast path - one host sync per round.

MLX is lazy: ``model(x)`` only records work, and the work runs when a result is
needed *on the host* - ``.item()``, ``.tolist()``, ``int(...)``, ``if x:``. Each such
read is a *sync*: Python waits until the device has finished everything queued so far,
and the device then idles until Python has queued the next step. Week 1's loop syncs
once per draft token (``sample_token`` returns a Python int) and once more in the
verifier, so drafting K tokens costs K + 1 round trips.

This loop keeps the whole greedy round on the device: draft tokens stay ``mx.array``
(argmax on the device, fed straight back as the next input), the acceptance test is
vectorised (first mismatch by a cumulative product), and the round ends with ONE
``.tolist()`` that brings back the accepted count and the target's choices together.
``mx.async_eval`` starts each draft step while Python queues the next one.

The result is token for token, call for call, the same as
``SpeculativeDecoder(draft, target, K).generate`` at temperature 0: only where the
host waits changes.
"""

from __future__ import annotations

from collections.abc import Iterable

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import make_prompt_cache

# Your Week 1 Day 3 `_rewind` as course code: trimming only moves an integer offset per layer,
# so it costs no sync.
from specdec_course.api.caches import rewind
from specdec_course.api.results import GenerationResult
from specdec_course.api.validation import (
    check_count,
    check_same_vocab,
    check_trimmable,
    eos_ids,
    token_list,
)


def greedy_verdict(draft_tokens: mx.array, target_logits: mx.array) -> mx.array:
    """Greedy verification without leaving the device.

    Args:
        draft_tokens: integer ``(K,)``, ``K >= 0``: the proposed ``d_1 .. d_K``.
        target_logits: ``(K + 1, V)``, any float dtype: the target's logits over
            ``[c, d_1 .. d_K]`` (row ``i`` scores ``d_{i+1}``, row ``K`` the bonus).

    Returns:
        int32 ``(K + 2,)``: ``[n, t_0, t_1, .. t_K]`` where ``t_i`` is the target's argmax
        at row ``i`` and ``n`` the number of leading drafts equal to it. The tokens to emit
        are ``t_0 .. t_n`` (the accepted drafts equal ``t_0 .. t_{n-1}``; ``t_n`` is the
        correction, or the bonus when ``n == K``). Still lazy: one ``.tolist()`` reads it all.

    Raises:
        ValueError: when the shapes do not fit ``K``.
    """
    # TODO(W4D3): vectorised greedy acceptance, no host reads.
    #   1. Check draft_tokens is 1-D (K,) and target_logits is (K + 1, V) (ValueError).
    #   2. choices = argmax of every target row, int32.
    #   3. matches = choices[:K] == draft_tokens; n = sum of the cumulative product of the
    #      matches (it stays 1 up to the first mismatch, then 0).
    #   4. Return [n, *choices] as one int32 array - without .item() / .tolist().
    raise NotImplementedError(
        "Week 4 Day 3 task `greedy_verdict` is not written yet: see book chapter week4-03-fast-path"
    )


def fast_generate(
    draft_model: nn.Module,
    target_model: nn.Module,
    prompt_tokens: mx.array | list[int],
    max_tokens: int,
    *,
    lookahead: int = 4,
    eos_token_id: int | Iterable[int] | None = None,
) -> GenerationResult:
    """Greedy speculative decoding with one host sync per round.

    Exactly the rounds of ``SpeculativeDecoder(draft, target, lookahead).generate`` at
    temperature 0 - same prefills, same K per round (capped so no round passes
    ``max_tokens``), same calls and inputs, same output - but the draft tokens never
    leave the device during a round: the only host read is the ``.tolist()`` of
    :func:`greedy_verdict`'s result (and one ``.item()`` in a round with nothing drafted).

    Cache invariant, as in Week 1: at the start of a round the target cache holds the
    context minus its last token; the draft cache holds a prefix of the context that is
    at most that long, and the round's first draft step feeds whatever it lacks (one
    token, or two after a fully accepted round).

    Args:
        draft_model, target_model: mlx-lm style models sharing a vocabulary.
        prompt_tokens: int ``mx.array`` ``(L,)``, ``L >= 1``, or a list.
        max_tokens: the most tokens to generate (``>= 0``).
        lookahead: K draft tokens per round (``>= 0``; 0 = plain greedy decoding).
        eos_token_id: an id or ids that end generation (kept in the output).

    Returns:
        A :class:`GenerationResult` with the counts of the Week 1 loop.

    Raises:
        TypeError / ValueError: for a bad prompt or count, vocabularies of different
            sizes or an untrimmable cache, before any model runs.
    """
    # TODO(W4D3): the Week 1 greedy loop with the round kept on the device.
    #   1. Validate as SpeculativeDecoder does (prompt, max_tokens, lookahead, EOS ids,
    #      same vocabulary, trimmable caches); max_tokens == 0 runs nothing.
    #   2. Prefill the target with the prompt minus its last token (none for one token).
    #   3. Each round: k = min(lookahead, max_tokens - emitted - 1).
    #      k == 0: one target call on the last token, its argmax (.item()), record (0, 0).
    #   4. Draft: first round with an empty draft cache, prefill it like the target. Trim the
    #      draft cache to at most len(context) - 1; the first step feeds context[offset:].
    #   5. Each draft step: argmax of the last row ON THE DEVICE, mx.async_eval it, and feed
    #      that (1,) array as the next input - no .item().
    #   6. ONE target call over [last context token, *drafts] (mx.concatenate), then
    #      greedy_verdict(...).tolist(): the round's only sync.
    #   7. Emit t_0 .. t_n; cut after an EOS; record_round(k, n); trim the target cache to
    #      len(context) - 1.
    raise NotImplementedError(
        "Week 4 Day 3 task `fast_generate` is not written yet: see book chapter week4-03-fast-path"
    )
