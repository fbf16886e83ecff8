"""Input checks shared by the generation functions.

Each turns a bad argument into one clear exception that names the fix, raised
before any model runs, instead of a stack of MLX internals later.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import RotatingKVCache, can_trim_prompt_cache, make_prompt_cache


def token_list(prompt_tokens: mx.array | Iterable[int], *, what: str = "prompt_tokens") -> list[int]:
    """Return the prompt as a non-empty list of Python ints.

    Args:
        prompt_tokens: 1-D integer ``mx.array`` of shape ``(L,)`` or a sequence of ints.
        what: the argument's name, for the message.

    Raises:
        TypeError: for float arrays or non-integer items.
        ValueError: for an empty prompt or a 2-D array.
    """
    if isinstance(prompt_tokens, mx.array):
        if prompt_tokens.ndim != 1:
            raise ValueError(f"{what} must be 1-D (L,), got shape {prompt_tokens.shape}; "
                             "pass one sequence, not a batch")
        if mx.issubdtype(prompt_tokens.dtype, mx.floating):
            raise TypeError(f"{what} must hold integer token ids, got dtype {prompt_tokens.dtype}")
        tokens = prompt_tokens.tolist()
    else:
        tokens = list(prompt_tokens)
    if not tokens:
        raise ValueError(f"{what} is empty: generation needs at least one token to condition on "
                         "(e.g. tokenizer.encode(text) or the BOS token)")
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise TypeError(f"{what} must contain Python ints (token ids)")
    return tokens


def check_count(value: Any, what: str, low: int = 0) -> int:
    """Return ``value`` if it is an int ``>= low`` (default 0), else raise TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{what} must be >= {low}, got {value}")
    return value


def check_temperature(temperature: Any) -> float:
    """Return ``temperature`` if it is a finite number >= 0."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number (0 = greedy), got {type(temperature).__name__}")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    return float(temperature)


def eos_ids(eos_token_id: int | Iterable[int] | None) -> frozenset[int]:
    """Normalise an EOS id, a collection of ids (as mlx-lm tokenizers have) or None."""
    if eos_token_id is None:
        return frozenset()
    if isinstance(eos_token_id, int) and not isinstance(eos_token_id, bool):
        return frozenset({eos_token_id})
    ids = frozenset(eos_token_id)
    if not all(isinstance(i, int) for i in ids):
        raise TypeError(f"eos_token_id must be an int or a collection of ints, got {eos_token_id!r}")
    return ids


def vocab_size(model: Any) -> int | None:
    """The model's vocabulary size from its config, or None when it does not say."""
    args = getattr(model, "args", None)
    for source in (args, model):
        size = getattr(source, "vocab_size", None)
        if isinstance(size, int):
            return size
    return None


def tokenizer_size(tokenizer: Any) -> int:
    """How many token ids a tokenizer can produce: one more than its largest id.

    Added (special) tokens count: they are ids like any other.
    """
    vocab = tokenizer.get_vocab()
    return max(vocab.values()) + 1 if vocab else 0


def shared_vocab_size(draft_model: Any, target_model: Any, tokenizer: Any = None) -> int | None:
    """The number of logit columns both models can be compared on.

    Equal output widths (or widths the configs do not state): that width (or None). Different
    widths are accepted only with the tokenizer the two share: model families pad their
    embedding tables to a round size (Qwen2.5-0.5B has 151,936 rows, Qwen2.5-7B 152,064, one
    tokenizer of 151,665 ids), and the rows past the tokenizer are never real tokens. Then the
    answer is the tokenizer's size, and both models' logits must be sliced to it
    (``logits[..., :n]``; :func:`specdec_course.api.models.load_pair` does it for you).

    Args:
        draft_model, target_model: models whose config gives ``vocab_size``
            (see :func:`vocab_size`).
        tokenizer: the shared tokenizer (anything with ``get_vocab()``), when known.

    Raises:
        ValueError: widths differ and no tokenizer is given, or the tokenizer has ids one of
            the models cannot score (a different tokenizer).
    """
    d, t = vocab_size(draft_model), vocab_size(target_model)
    if d is None or t is None:
        return d if d is not None else t  # a config that does not say: nothing to check
    n = None if tokenizer is None else tokenizer_size(tokenizer)
    if n is not None and not 0 < n <= min(d, t):
        raise ValueError(
            f"the tokenizer has {n} token ids but the draft scores {d} and the target {t}: "
            "the models do not share this tokenizer. Pick a draft from the target's model family.")
    if d == t:
        return d
    if n is None:
        raise ValueError(
            f"draft and target vocabularies differ in size ({d} vs {t} logits): speculative "
            "decoding compares the two models token by token, so they must share one tokenizer. If they "
            "do and only the embedding tables are padded, load them with "
            "specdec_course.api.models.load_pair, which compares the tokenizers and slices "
            "both models' logits to the shared size; otherwise pick a draft from the target's "
            "model family.")
    return n


def check_same_vocab(draft_model: Any, target_model: Any) -> None:
    """Raise ValueError unless both models score the same token ids (equal output widths).

    A pair with padded embedding tables of different sizes passes once
    :func:`specdec_course.api.models.load_pair` has sliced both to their shared tokenizer.
    """
    shared_vocab_size(draft_model, target_model)


def check_trimmable(model: Any, what: str) -> None:
    """Raise ValueError when the model's KV cache cannot be rewound.

    A rotating (sliding-window) cache says it is trimmable until it first
    wraps around and then silently trims nothing, so it is refused up front.
    """
    cache = make_prompt_cache(model)
    if not can_trim_prompt_cache(cache) or any(isinstance(c, RotatingKVCache) for c in cache):
        raise ValueError(
            f"the {what} model's KV cache cannot be trimmed (e.g. a rotating / sliding-window "
            "cache), so rejected draft tokens could not be rolled back. Use a model whose "
            "make_prompt_cache gives plain, trimmable KVCache layers.")
