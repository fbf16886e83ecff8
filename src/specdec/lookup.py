# Your code goes here: replace each `raise NotImplementedError(...)` with the function's
# code, following the TODO plan above it. Keep signatures and docstrings as they are.
# (Course maintainers generate this file; they change its generator, not the file.)
"""Week 4 Day 1: one loop for every drafter - n-gram, draft model, or both.

:func:`lookup_generate` takes any drafter that follows
:class:`specdec_course.api.drafting.Drafter`: the n-gram drafter of :mod:`specdec.ngram`, a
draft model (:class:`ModelDrafter`, Week 1's drafting behind the interface), or "n-gram first,
model when no match" (:class:`FallbackDrafter`). Verification is Week 1's
``verify_speculation``, unchanged: where the proposal came from does not matter to it, only
the distribution it was drawn from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import make_prompt_cache

from specdec.sampling import sample_token
from specdec.verify import verify_speculation
from specdec_course.api.caches import rewind  # your Week 1 Day 3 `_rewind`, as course code
from specdec_course.api.drafting import Drafter
from specdec_course.api.keys import split_key
from specdec_course.api.results import GenerationResult
from specdec_course.api.validation import (
    check_count,
    check_temperature,
    check_trimmable,
    eos_ids,
    token_list,
)
from specdec_course.api.validation import vocab_size as model_vocab_size


class ModelDrafter:
    """Week 1's drafting behind the drafter interface: a draft model with its own KV cache.

    Attributes:
        model: the draft model.
        vocab_size: its vocabulary size when its config says, else None.
        temperature: the generation's temperature (the draft samples at it).
        cache: the draft's KV cache; ``seen`` lists the tokens it holds, in order.
        draft_calls: the model's forward passes since :meth:`reset`.
    """

    def __init__(self, model: nn.Module, *, temperature: float = 0.0):
        """Check the model's cache can be rewound and the temperature; set up an empty cache.

        Raises:
            ValueError: for an untrimmable cache or a bad temperature.
        """
        # TODO(W4D1): check and store the settings.
        #   1. check_trimmable(model, "draft") and check_temperature.
        #   2. Store model, temperature and vocab_size (model_vocab_size(model)); call reset().
        raise NotImplementedError(
            "Week 4 Day 1 task `ModelDrafter.__init__` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )

    def reset(self) -> None:
        """A fresh, empty cache and zeroed counter."""
        # TODO(W4D1): start empty.
        #   1. cache = make_prompt_cache(model); seen = []; draft_calls = 0.
        raise NotImplementedError(
            "Week 4 Day 1 task `ModelDrafter.reset` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )

    def propose(
        self, context: list[int], k: int, *, key: mx.array | None = None
    ) -> tuple[list[int], mx.array]:
        """Draft ``k`` tokens as Week 1 Day 3 does; returns them and their float32 logits."""
        # TODO(W4D1): your draft_generation, reading the cache state from self.
        #   1. Keep the longest cached prefix that agrees with the context (at most L - 1
        #      tokens); rewind the cache to it. The context may have grown by many tokens
        #      since the last call (rounds drafted by another drafter): that is fine.
        #   2. k == 0: return [] and a (0, V) array without running the model.
        #   3. Empty cache: prefill the context minus its last token in one pass.
        #   4. First step feeds every token the cache lacks; later steps one token.
        #   5. Each step: float32 last row, split the key, sample_token; count the call.
        raise NotImplementedError(
            "Week 4 Day 1 task `ModelDrafter.propose` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )


class FallbackDrafter:
    """First drafter; the second only when the first proposes nothing.

    With an :class:`NgramDrafter` first and a :class:`ModelDrafter` second this drafts for
    free whenever the context repeats itself and pays for the draft model only otherwise.

    Attributes:
        first, second: the two drafters.
        vocab_size: the first drafter's vocabulary size (None if it has none).
        fallbacks: proposals the second drafter made since :meth:`reset`.
    """

    def __init__(self, first: Drafter, second: Drafter):
        """Store both drafters (each must follow the Drafter interface).

        Raises:
            TypeError: when either lacks ``propose``, ``reset`` or ``draft_calls``.
        """
        # TODO(W4D1): check and store both drafters.
        #   1. Each must be a Drafter (isinstance works on the Protocol): TypeError naming it.
        #   2. Store first and second; vocab_size = the first's (or None); fallbacks = 0.
        raise NotImplementedError(
            "Week 4 Day 1 task `FallbackDrafter.__init__` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )

    @property
    def draft_calls(self) -> int:
        """Model passes of both drafters together."""
        # TODO(W4D1): count both drafters' model passes.
        #   1. Return the sum of first.draft_calls and second.draft_calls.
        raise NotImplementedError(
            "Week 4 Day 1 task `FallbackDrafter.draft_calls` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )

    def reset(self) -> None:
        """Reset both drafters and the fallback count."""
        # TODO(W4D1): reset both.
        #   1. Call reset() on both drafters; fallbacks = 0.
        raise NotImplementedError(
            "Week 4 Day 1 task `FallbackDrafter.reset` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )

    def propose(
        self, context: list[int], k: int, *, key: mx.array | None = None
    ) -> tuple[list[int], mx.array]:
        """The first drafter's proposal, or the second's when the first has none."""
        # TODO(W4D1): the first drafter's proposal, else the second's.
        #   1. Split the key (one part for each drafter).
        #   2. Ask the first; return its proposal when it has tokens (or k == 0).
        #   3. Otherwise count a fallback and return the second's proposal.
        raise NotImplementedError(
            "Week 4 Day 1 task `FallbackDrafter.propose` is not written yet: "
            "see book chapter week4-01-prompt-lookup"
        )


def lookup_generate(
    target_model: nn.Module,
    prompt_tokens: mx.array | list[int],
    max_tokens: int,
    *,
    drafter: Drafter,
    lookahead: int = 4,
    temperature: float = 0.0,
    eos_token_id: int | Iterable[int] | None = None,
    key: mx.array | None = None,
) -> GenerationResult:
    """Speculative decoding with any drafter: propose, verify in one target pass, rewind.

    The Week 1 Day 5 loop with ``SpeculativeDecoder.draft_generation`` replaced by
    ``drafter.propose``. A round whose drafter proposes nothing is a plain decoding step
    (recorded as a round with 0 drafted); a round proposing ``n < K`` tokens verifies
    ``n + 1`` tokens. K is capped so a round never passes ``max_tokens``.

    Args:
        target_model: the model whose output is reproduced exactly.
        prompt_tokens: int ``mx.array`` ``(L,)``, ``L >= 1``, or a list.
        max_tokens: the most tokens to generate (``>= 0``).
        drafter: an object following :class:`specdec_course.api.drafting.Drafter`.
        lookahead: K, the most tokens asked of the drafter per round (``>= 0``).
        temperature: 0 = greedy; ``> 0`` samples (the drafter's logits must be at the
            same temperature's meaning: the distribution its tokens came from).
        eos_token_id: an id or ids that end generation (kept in the output).
        key: PRNG key, split every round.

    Returns:
        A :class:`GenerationResult`; ``draft_calls`` is the drafter's model passes.

    Raises:
        TypeError / ValueError: bad prompt, counts, temperature, a drafter that is not a
            Drafter, an untrimmable target cache, or a drafter whose vocabulary size
            differs from the target's - all before any model runs.
    """
    # TODO(W4D1): the Week 1 loop with a pluggable drafter.
    #   1. Validate everything (token_list, check_count, check_temperature, eos_ids,
    #      check_trimmable, isinstance(drafter, Drafter), equal vocabulary sizes).
    #   2. drafter.reset(); max_tokens == 0 runs nothing; prefill the target with the
    #      prompt minus its last token.
    #   3. Each round: k = min(lookahead, max_tokens - emitted - 1); split the key for the
    #      drafter and the verifier; tokens, logits = drafter.propose(context, k).
    #   4. ONE target call over [last context token, *tokens].
    #   5. Tokens proposed: verify_speculation, record_round(len(tokens), n);
    #      none: sample_token on the last row, record_round(0, 0).
    #   6. Cut after an EOS, extend context and result, stop at EOS; else rewind the target
    #      cache to len(context) - 1.
    #   7. result.draft_calls = drafter.draft_calls.
    raise NotImplementedError(
        "Week 4 Day 1 task `lookup_generate` is not written yet: "
        "see book chapter week4-01-prompt-lookup"
    )
