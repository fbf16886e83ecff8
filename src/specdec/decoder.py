# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 1 Days 3 and 5: the speculative decoder.

Day 3 writes the constructor and :meth:`SpeculativeDecoder.draft_generation`
(drafting K tokens with the draft's KV cache); Day 5 writes
:meth:`SpeculativeDecoder.generate`, the draft -> verify -> rewind loop.

Cache invariant used throughout: at the start of every round both caches hold
the context *except its last token* (``offset == len(context) - 1``). The
round then feeds that last token: the draft to propose ``d_1``, the target as
the first of the ``K + 1`` tokens it verifies in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import make_prompt_cache, trim_prompt_cache

from specdec.sampling import sample_token
from specdec.verify import verify_speculation
from specdec_course.api.keys import split_key
from specdec_course.api.results import GenerationResult
from specdec_course.api.validation import (
    check_count,
    check_same_vocab,
    check_temperature,
    check_trimmable,
    eos_ids,
    token_list,
)

# TODO(W1D3): write a helper that trims a KV cache back to `length` positions
# (mlx-lm's trim_prompt_cache); draft_generation and generate both need it.


class SpeculativeDecoder:
    """Draft K tokens with a small model, verify them with the target in one pass.

    Attributes:
        draft_model, target_model: mlx-lm style models sharing a vocabulary.
        lookahead: K, the number of draft tokens per round (0 = plain decoding).
        temperature: 0 for greedy, > 0 for sampling (both models, same T).
        eos_token_ids: the ids that end a generation.
        adaptive: optional object with a ``lookahead`` property and
            ``update_lookahead(rate, *, drafted)``; when given, it picks K
            every round.
        draft_cache, target_cache: the current KV caches (lists of layers).
        draft_logits: float32 ``(K, V)`` logits behind the last drafted tokens.
        draft_calls: draft forward passes since the last :meth:`generate` began.
    """

    def __init__(
        self,
        draft_model: nn.Module,
        target_model: nn.Module,
        lookahead: int = 4,
        *,
        temperature: float = 0.0,
        eos_token_id: int | Iterable[int] | None = None,
        adaptive: Any | None = None,
    ):
        """Check the configuration and set up empty caches.

        Args:
            draft_model: the cheap model that proposes tokens.
            target_model: the model whose output must be reproduced exactly.
            lookahead: K >= 0 draft tokens per round.
            temperature: sampling temperature for both models (0 = greedy).
            eos_token_id: an id or a collection of ids that stop generation.
            adaptive: an ``AdaptiveSpeculator`` (Week 2 Day 3) choosing K.

        Raises:
            TypeError: for a non-int lookahead.
            ValueError: for a negative lookahead, a negative or non-finite
                temperature, vocabularies of different sizes, or a KV cache
                that cannot be trimmed - all before any model runs.
        """
        # TODO(W1D3): check the configuration, set up caches.
        #   1. Validate lookahead, temperature, EOS ids, equal vocabularies and trimmable caches
        #      (specdec_course validation helpers), all before any model runs.
        #   2. Store models and settings under the attribute names of the class docstring.
        #   3. Create one KV cache per model; draft_logits = None; draft_calls = 0.
        #   4. Remember which tokens the draft cache holds, so draft_generation can rewind it.
        raise NotImplementedError(
            "Week 1 Day 3 task `SpeculativeDecoder.__init__` is not written yet: "
            "see book chapter week1-03-drafting"
        )

    def draft_generation(
        self, prompt_tokens: mx.array | list[int], num_tokens: int, *, key: mx.array | None = None
    ) -> list[int]:
        """Propose ``num_tokens`` draft tokens after ``prompt_tokens``.

        ``prompt_tokens`` is the whole context so far. The draft's KV cache is
        brought up to date first: positions that disagree with the context
        (rejected drafts of the last round, or another prompt) are trimmed
        off; on an empty cache the context minus its last token is prefilled
        in one call; then the first draft step feeds every token the cache
        lacks (normally just the last one, two after a fully accepted round).
        Each further step feeds exactly one token, so drafting K tokens costs
        K forward passes after the prefill and never re-runs the prefix.

        Args:
            prompt_tokens: int ``mx.array`` of shape ``(L,)``, ``L >= 1``, or a list.
            num_tokens: K >= 0.
            key: PRNG key for sampling draft tokens when temperature > 0.

        Returns:
            The K draft token ids. Side effects: ``self.draft_logits`` holds
            the ``(K, V)`` float32 logits they were drawn from, and the draft
            cache holds the context plus ``d_1 .. d_{K-1}``.
        """
        # TODO(W1D3): propose K draft tokens.
        #   1. Validate the context and num_tokens.
        #   2. Keep the longest cached prefix that agrees with the context (at most L - 1
        #      tokens) and rewind the draft cache to it: last round's rejected drafts go.
        #   3. num_tokens == 0: draft_logits = None, return [] without running the draft.
        #   4. Empty cache: prefill the context minus its last token in one pass.
        #   5. First step: feed every token the cache lacks; later steps: only the last draft.
        #   6. Each step: last logits row in float32, split the key, sample_token, count it.
        #   7. Stack the rows into draft_logits (K, V) and return the K tokens as ints.
        raise NotImplementedError(
            "Week 1 Day 3 task `SpeculativeDecoder.draft_generation` is not written yet: "
            "see book chapter week1-03-drafting"
        )

    def generate(
        self, prompt_tokens: mx.array | list[int], max_tokens: int, *, key: mx.array | None = None
    ) -> GenerationResult:
        """Generate up to ``max_tokens`` tokens with speculative decoding.

        Both models are prefilled once with the prompt minus its last token
        (no prefill for a one-token prompt). Each round drafts K tokens, verifies
        ``[last token, d_1 .. d_K]`` with ONE target call, keeps the accepted
        prefix plus one target token, and rewinds both caches to exactly the
        accepted length. K is capped so a round never overshoots
        ``max_tokens``; an EOS inside the accepted tokens ends generation with
        nothing emitted after it; ``lookahead == 0`` is plain target decoding
        (each step is then a round with nothing drafted). The draft cache is
        rewound by :meth:`draft_generation` when the next round starts.

        Args:
            prompt_tokens: int ``mx.array`` of shape ``(L,)``, ``L >= 1``, or a list.
            max_tokens: the most tokens to generate (>= 0).
            key: PRNG key (split every round) for reproducible sampling.

        Returns:
            A :class:`GenerationResult`: the same tokens the target alone
            would produce under greedy decoding, and tokens following the
            target's distribution exactly under sampling.
        """
        # TODO(W1D5): the draft -> verify -> rewind loop.
        #   1. Validate context and max_tokens; fresh caches, draft record and draft_calls;
        #      max_tokens == 0 runs nothing.
        #   2. Prefill the target with the prompt minus its last token (none for 1 token).
        #   3. Each round: K = the adaptive policy's or the fixed lookahead, capped so the
        #      round cannot pass max_tokens (K + 1 tokens at most).
        #   4. Split the key for drafting and for verifying; draft K tokens.
        #   5. ONE target call over [last context token, d_1 .. d_K]: (K + 1, V) logits.
        #   6. K > 0: verify_speculation decides; record the round, report n / K to the policy.
        #      K == 0: sample_token on the last row (report a policy-chosen K = 0).
        #   7. Cut the emitted tokens after an EOS; extend context and result; stop at EOS.
        #   8. Else rewind the target cache to len(context) - 1 (the draft rewinds itself).
        #   9. Put draft_calls into the result.
        raise NotImplementedError(
            "Week 1 Day 5 task `SpeculativeDecoder.generate` is not written yet: "
            "see book chapter week1-05-loop"
        )
