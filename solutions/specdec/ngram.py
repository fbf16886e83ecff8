"""Week 4 Day 1: prompt lookup - drafting without a draft model.

Code, chat replies and edits repeat what is already in the context: a variable name, a
call with the same arguments, a line copied from the prompt. A *prompt lookup* drafter
proposes the tokens that followed the most recent earlier occurrence of the context's
last n-gram; it costs a few list comparisons instead of a draft model's forward passes.

Any proposal is verified by the target exactly as in Week 1, so the output stays
lossless. Under sampling a deterministic proposal is a one-hot draft distribution
``q``: the token is accepted with probability ``p(d)``, and on rejection the residual
``max(0, p - q)`` is ``p`` without ``d``.

The loop :func:`lookup_generate` takes any drafter that follows
:class:`specdec_course.api.drafting.Drafter`: the n-gram drafter, a draft model
(:class:`ModelDrafter`), or "n-gram first, model when no match" (:class:`FallbackDrafter`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import make_prompt_cache, trim_prompt_cache

from specdec.sampling import sample_token
from specdec.verify import verify_speculation
from specdec_course.api.drafting import ONE_HOT_OFF, Drafter
from specdec_course.api.results import GenerationResult
from specdec_course.api.validation import (
    check_count,
    check_temperature,
    check_trimmable,
    eos_ids,
    token_list,
)
from specdec_course.api.validation import vocab_size as model_vocab_size


# Given to students (kept in the stub): a key split that passes None through, as in Week 1.
def _split(key: mx.array | None) -> tuple[mx.array | None, mx.array | None]:
    if key is None:
        return None, None
    key, sub = mx.random.split(key)
    return key, sub


# Given: the n-gram sizes' checks, shared by find_ngram_match and NgramDrafter.
def _check_ngram_sizes(max_ngram: Any, min_ngram: Any) -> None:
    check_count(max_ngram, "max_ngram")
    check_count(min_ngram, "min_ngram")
    if min_ngram < 1:
        raise ValueError(f"min_ngram must be >= 1 (a 0-gram matches everywhere), got {min_ngram}")
    if max_ngram < min_ngram:
        raise ValueError(
            f"max_ngram ({max_ngram}) must be >= min_ngram ({min_ngram}): the drafter tries "
            "n = max_ngram down to min_ngram"
        )


def find_ngram_match(
    context: list[int], k: int, *, max_ngram: int = 3, min_ngram: int = 1
) -> list[int]:
    """The tokens that followed the most recent earlier occurrence of the context's tail.

    For ``n`` from ``max_ngram`` down to ``min_ngram``: take the last ``n`` tokens of the
    context, find the occurrence of the same ``n`` tokens that starts latest while still
    being followed by at least one token of the context, and return up to ``k`` of the
    tokens that follow it. The first ``n`` with a match wins (a longer match is better
    evidence); the most recent occurrence wins among equals (the local pattern).

    Example: ``context = [1, 2, 3, 9, 1, 2, 3, 7, 1, 2, 3]``, ``k = 2`` -> ``[7, 1]``
    (the 3-gram ``1 2 3`` last occurred at index 4, followed by ``7 1 2 3``).

    Args:
        context: the token ids so far (may be empty: no match).
        k: the most tokens to return (``>= 0``).
        max_ngram: the longest tail tried (``>= min_ngram``).
        min_ngram: the shortest tail tried (``>= 1``).

    Returns:
        Between 0 and ``k`` token ids; ``[]`` when no tail of any tried length reoccurs.

    Raises:
        TypeError / ValueError: for non-int or negative ``k``, ``min_ngram < 1`` or
            ``max_ngram < min_ngram``.
    """
    # TODO(W4D1): find the tokens after the latest earlier occurrence of the last n-gram.
    #   1. Check k and the n-gram sizes (_check_ngram_sizes); k == 0 returns [].
    #   2. For n = max_ngram down to min_ngram (only n < len(context): a match must end
    #      before the last token so that something follows it):
    #   3.   scan start positions from len(context) - n - 1 down to 0 for context[start:start+n]
    #        equal to the last n tokens;
    #   4.   on the first hit return context[start + n : start + n + k] (possibly < k tokens).
    #   5. No hit for any n: return [].
    # BEGIN SOLUTION
    check_count(k, "k")
    _check_ngram_sizes(max_ngram, min_ngram)
    if k == 0:
        return []
    length = len(context)
    for n in range(min(max_ngram, length - 1), min_ngram - 1, -1):
        tail = context[length - n :]
        # Latest start first; start <= length - n - 1 leaves a token after the match.
        for start in range(length - n - 1, -1, -1):
            if context[start : start + n] == tail:
                return context[start + n : start + n + k]
    return []
    # END SOLUTION


def one_hot_logits(tokens: list[int], vocab_size: int) -> mx.array:
    """Logits of a deterministic proposal: every row puts all its mass on one token.

    Args:
        tokens: ``n >= 0`` token ids in ``[0, vocab_size)``.
        vocab_size: ``V``.

    Returns:
        float32 ``(n, V)``: 0 at ``tokens[i]`` in row ``i``, ``ONE_HOT_OFF`` (-1e4) elsewhere,
        so ``softmax(row / T)`` is one-hot for every temperature the course uses, and no
        ``-inf`` can make it NaN.
    """
    # TODO(W4D1): one row per token: 0 at the token, ONE_HOT_OFF elsewhere, float32 (n, V).
    #   1. n == 0: return an empty float32 array of shape (0, V).
    #   2. Compare mx.arange(V) with the tokens as a column and pick 0 or ONE_HOT_OFF.
    # BEGIN SOLUTION
    if not tokens:
        return mx.zeros((0, vocab_size), dtype=mx.float32)
    hit = mx.arange(vocab_size)[None, :] == mx.array(tokens)[:, None]
    return mx.where(hit, 0.0, ONE_HOT_OFF).astype(mx.float32)
    # END SOLUTION


class NgramDrafter:
    """Prompt lookup: proposes with :func:`find_ngram_match`, never runs a model.

    Attributes:
        vocab_size: ``V`` of the target (the width of the one-hot rows).
        max_ngram, min_ngram: the tail lengths tried, longest first.
        draft_calls: always 0 (no model).
        hits, misses: proposals that found a match / found none since :meth:`reset`.
    """

    def __init__(self, vocab_size: int, *, max_ngram: int = 3, min_ngram: int = 1):
        """Check and store the settings.

        Raises:
            TypeError / ValueError: for a vocabulary size below 1 or bad n-gram sizes,
                before any model runs.
        """
        # TODO(W4D1): check and store the settings.
        #   1. vocab_size must be an int >= 1; check the n-gram sizes with _check_ngram_sizes.
        #   2. Store vocab_size, max_ngram, min_ngram; draft_calls = hits = misses = 0.
        # BEGIN SOLUTION
        if check_count(vocab_size, "vocab_size") < 1:
            raise ValueError("vocab_size must be >= 1 (the target's vocabulary size)")
        _check_ngram_sizes(max_ngram, min_ngram)
        self.vocab_size = vocab_size
        self.max_ngram = max_ngram
        self.min_ngram = min_ngram
        self.draft_calls = 0
        self.hits = 0
        self.misses = 0
        # END SOLUTION

    def reset(self) -> None:
        """Zero the counters (there is no cache to forget)."""
        # TODO(W4D1): forget the counters.
        #   1. Set draft_calls, hits and misses to 0.
        # BEGIN SOLUTION
        self.draft_calls = self.hits = self.misses = 0
        # END SOLUTION

    def propose(
        self, context: list[int], k: int, *, key: mx.array | None = None
    ) -> tuple[list[int], mx.array]:
        """Up to ``k`` looked-up tokens and their one-hot logits ``(n, V)`` (key unused)."""
        # TODO(W4D1): propose the looked-up tokens.
        #   1. find_ngram_match with this drafter's max_ngram / min_ngram.
        #   2. For k > 0 count a hit (tokens found) or a miss (none).
        #   3. Return the tokens and one_hot_logits for them.
        # BEGIN SOLUTION
        tokens = find_ngram_match(context, k, max_ngram=self.max_ngram, min_ngram=self.min_ngram)
        if k > 0:
            if tokens:
                self.hits += 1
            else:
                self.misses += 1
        return tokens, one_hot_logits(tokens, self.vocab_size)
        # END SOLUTION


# TODO(W4D1): write _rewind(cache, length) for ModelDrafter and lookup_generate.
#   1. As in Week 1 Day 3 (your decoder.py): trim the cache back to `length` positions with
#      trim_prompt_cache, and raise if it refuses.
# BEGIN SOLUTION
def _rewind(cache: list[Any], length: int) -> None:
    # Drop cached positions beyond `length`: drafts the target rejected.
    excess = cache[0].offset - length
    if excess > 0 and trim_prompt_cache(cache, excess) != excess:
        raise RuntimeError("the draft's KV cache refused to trim")


# END SOLUTION


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
        # BEGIN SOLUTION
        check_trimmable(model, "draft")
        self.temperature = check_temperature(temperature)
        self.model = model
        self.vocab_size = model_vocab_size(model)
        self.reset()
        # END SOLUTION

    def reset(self) -> None:
        """A fresh, empty cache and zeroed counter."""
        # TODO(W4D1): start empty.
        #   1. cache = make_prompt_cache(model); seen = []; draft_calls = 0.
        # BEGIN SOLUTION
        self.cache: list[Any] = make_prompt_cache(self.model)
        self.seen: list[int] = []
        self.draft_calls = 0
        # END SOLUTION

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
        # BEGIN SOLUTION
        check_count(k, "k")
        keep = 0
        limit = min(len(self.seen), len(context) - 1)
        while keep < limit and self.seen[keep] == context[keep]:
            keep += 1
        _rewind(self.cache, keep)
        del self.seen[keep:]
        if k == 0:
            return [], mx.zeros((0, self.vocab_size or 0), dtype=mx.float32)
        if keep == 0 and len(context) > 1:
            self.model(mx.array(context[:-1])[None], cache=self.cache)
            self.draft_calls += 1
            self.seen = list(context[:-1])
        pending = context[self.cache[0].offset :]
        tokens: list[int] = []
        rows: list[mx.array] = []
        for _ in range(k):
            logits = self.model(mx.array(pending)[None], cache=self.cache)[0, -1]
            logits = logits.astype(mx.float32)
            self.draft_calls += 1
            key, sub = _split(key)
            tokens.append(sample_token(logits, self.temperature, key=sub))
            rows.append(logits)
            self.seen.extend(pending)
            pending = [tokens[-1]]
        return tokens, mx.stack(rows)
        # END SOLUTION


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
        # BEGIN SOLUTION
        for name, drafter in (("first", first), ("second", second)):
            if not isinstance(drafter, Drafter):
                raise TypeError(
                    f"the {name} drafter ({type(drafter).__name__}) must have propose(context, "
                    "k, *, key), reset() and draft_calls (see specdec_course.api.drafting)"
                )
        self.first = first
        self.second = second
        self.vocab_size = getattr(first, "vocab_size", None)
        self.fallbacks = 0
        # END SOLUTION

    @property
    def draft_calls(self) -> int:
        """Model passes of both drafters together."""
        # TODO(W4D1): count both drafters' model passes.
        #   1. Return the sum of first.draft_calls and second.draft_calls.
        # BEGIN SOLUTION
        return self.first.draft_calls + self.second.draft_calls
        # END SOLUTION

    def reset(self) -> None:
        """Reset both drafters and the fallback count."""
        # TODO(W4D1): reset both.
        #   1. Call reset() on both drafters; fallbacks = 0.
        # BEGIN SOLUTION
        self.first.reset()
        self.second.reset()
        self.fallbacks = 0
        # END SOLUTION

    def propose(
        self, context: list[int], k: int, *, key: mx.array | None = None
    ) -> tuple[list[int], mx.array]:
        """The first drafter's proposal, or the second's when the first has none."""
        # TODO(W4D1): the first drafter's proposal, else the second's.
        #   1. Split the key (one part for each drafter).
        #   2. Ask the first; return its proposal when it has tokens (or k == 0).
        #   3. Otherwise count a fallback and return the second's proposal.
        # BEGIN SOLUTION
        key, first_key = _split(key)
        tokens, logits = self.first.propose(context, k, key=first_key)
        if tokens or k == 0:
            return tokens, logits
        self.fallbacks += 1
        return self.second.propose(context, k, key=key)
        # END SOLUTION


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
    # BEGIN SOLUTION
    context = token_list(prompt_tokens)
    check_count(max_tokens, "max_tokens")
    check_count(lookahead, "lookahead (K)")
    temperature = check_temperature(temperature)
    stop = eos_ids(eos_token_id)
    check_trimmable(target_model, "target")
    if not isinstance(drafter, Drafter):
        raise TypeError(
            f"drafter ({type(drafter).__name__}) must have propose(context, k, *, key), reset() "
            "and draft_calls: use NgramDrafter, ModelDrafter or FallbackDrafter"
        )
    d_vocab, t_vocab = getattr(drafter, "vocab_size", None), model_vocab_size(target_model)
    if d_vocab is not None and t_vocab is not None and d_vocab != t_vocab:
        raise ValueError(
            f"the drafter proposes over {d_vocab} tokens but the target has {t_vocab}: build "
            "it with the target's vocabulary size (e.g. NgramDrafter(target.args.vocab_size))"
        )
    drafter.reset()
    result = GenerationResult()
    if max_tokens == 0:
        return result
    cache = make_prompt_cache(target_model)
    if len(context) > 1:
        target_model(mx.array(context[:-1])[None], cache=cache)
        result.target_calls += 1

    while len(result.tokens) < max_tokens:
        k = min(lookahead, max_tokens - len(result.tokens) - 1)
        key, draft_key = _split(key)
        key, verify_key = _split(key)
        drafts, draft_logits = drafter.propose(context, k, key=draft_key) if k else ([], None)
        target_logits = target_model(mx.array([context[-1], *drafts])[None], cache=cache)[0]
        result.target_calls += 1
        if drafts:
            n, emitted = verify_speculation(
                drafts, target_logits, draft_logits, temperature=temperature, key=verify_key
            )
            result.record_round(len(drafts), n)
        else:
            emitted = [sample_token(target_logits[-1], temperature, key=verify_key)]
            result.record_round(0, 0)
        for i, token in enumerate(emitted):
            if token in stop:
                emitted = emitted[: i + 1]
                result.finish_reason = "eos"
                break
        context.extend(emitted)
        result.tokens.extend(emitted)
        if result.finish_reason == "eos":
            break
        _rewind(cache, len(context) - 1)
    result.draft_calls = drafter.draft_calls
    return result
    # END SOLUTION
