"""Small, exact models for testing speculative decoding.

Every model here follows the mlx-lm calling convention, so code written for a
real checkpoint cannot tell them apart from one::

    cache = mlx_lm.models.cache.make_prompt_cache(model)
    logits = model(tokens[None], cache=cache)   # tokens: int32 mx.array (L,)
    logits.shape == (1, L, vocab_size); logits.dtype == mx.float32
    cache[0].offset                             # tokens seen so far
    mlx_lm.models.cache.trim_prompt_cache(cache, n)   # forget the last n

Position semantics (the same for every model here): the token at index ``j``
of a call sits at absolute position ``offset + j``, where ``offset`` is
``cache[0].offset`` *before* the call (0 when ``cache`` is ``None``). The
logits at index ``j`` are the model's prediction for position ``offset + j + 1``,
i.e. for the token that comes *after* the one at index ``j``.

What is here:

* :func:`tiny_llama` / :func:`tiny_pair` - real ``mlx_lm`` Llama models with
  random weights (a few ten-thousand parameters, built in milliseconds).
* :class:`ScriptedModel` - a model whose greedy choice at every position is
  dictated by a script: force a mismatch exactly where a test wants one.
* :class:`MarkovModel` - a model whose next-token distribution depends only on
  the last token, so exact distributions of whole continuations are
  computable (:func:`exact_sequence_distribution`): the yardstick for
  "speculative sampling is lossless".
* :class:`CountingModel` - counts forward passes and tokens per pass.
* :func:`untrimmable` - a model whose caches cannot be trimmed.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.models import llama
from mlx_lm.models.cache import KVCache, make_prompt_cache

__all__ = [
    "LOG_ZERO",
    "CountingModel",
    "MarkovModel",
    "ScriptedModel",
    "exact_next_distribution",
    "exact_sequence_distribution",
    "perturbed",
    "random_markov",
    "tiny_llama",
    "tiny_pair",
    "untrimmable",
]

#: Logit given to tokens of probability zero in :class:`MarkovModel`. Finite on
#: purpose: a row of all ``-inf`` turns softmax into NaN, while ``exp(-1e4 / T)``
#: is exactly 0.0 in float32 for any temperature up to about 50, so sampling,
#: temperature scaling and argmax behave as if the logit were ``-inf``.
LOG_ZERO = -1.0e4


# --------------------------------------------------------------------------
# Tiny real transformers
# --------------------------------------------------------------------------


def _llama_args(
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    intermediate_size: int,
    num_heads: int,
    num_kv_heads: int,
) -> llama.ModelArgs:
    return llama.ModelArgs(
        model_type="llama",
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        intermediate_size=intermediate_size,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        rms_norm_eps=1e-5,
        vocab_size=vocab_size,
        # An untied head: with tied embeddings a tiny random model mostly
        # predicts the token it has just seen, and greedy decoding repeats it.
        tie_word_embeddings=False,
    )


def _random_weights(
    model: nn.Module, rng: np.random.Generator, head_scale: float
) -> list[tuple[str, np.ndarray]]:
    weights = []
    for name, value in tree_flatten(model.parameters()):
        shape = tuple(value.shape)
        if name.endswith("norm.weight"):
            w = np.ones(shape)
        elif "embed_tokens" in name:
            w = rng.normal(0.0, 1.0, shape)
        elif "lm_head" in name:
            # RMSNorm makes the final hidden state ~unit per element, so the
            # logits have std ~ head_scale * sqrt(hidden); 0.6 gives peaked
            # but far from one-hot distributions (max prob ~0.2-0.9).
            w = rng.normal(0.0, head_scale, shape)
        else:
            # nn.Linear weight: (out, in); unit-variance signal propagation.
            w = rng.normal(0.0, 1.0 / np.sqrt(shape[-1]), shape)
        weights.append((name, w))
    return weights


def _load(model: nn.Module, weights: list[tuple[str, np.ndarray]]) -> None:
    model.update(tree_unflatten([(k, mx.array(w.astype(np.float32))) for k, w in weights]))
    mx.eval(model.parameters())


def tiny_llama(
    seed: int = 0,
    *,
    vocab_size: int = 64,
    hidden_size: int = 32,
    num_layers: int = 2,
    intermediate_size: int = 64,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    head_scale: float = 0.6,
) -> llama.Model:
    """A real ``mlx_lm.models.llama.Model`` with random float32 weights.

    Weights come from ``numpy.random.default_rng(seed)``, so the same seed gives
    the same model on every platform. Greedy continuations are not degenerate
    (the argmax changes from position to position), and sampling distributions
    are peaked but keep several plausible tokens.

    Args:
        seed: the weight seed.
        vocab_size: number of tokens ``V``; logits have shape ``(B, L, V)``.
        hidden_size: model width (must be divisible by ``num_heads``).
        num_layers: transformer blocks; ``make_prompt_cache`` gives one
            ``KVCache`` per block.
        intermediate_size: MLP width.
        num_heads: attention heads.
        num_kv_heads: key/value heads (grouped-query attention when smaller).
        head_scale: std of the output head's weights; larger means more peaked
            next-token distributions.

    Returns:
        The model, evaluated and ready: ``model(tokens[None], cache=cache)``
        with ``tokens`` an int32 array of shape ``(L,)`` gives float32 logits of
        shape ``(1, L, vocab_size)``.
    """
    args = _llama_args(
        vocab_size, hidden_size, num_layers, intermediate_size, num_heads, num_kv_heads
    )
    model = llama.Model(args)
    _load(model, _random_weights(model, np.random.default_rng(seed), head_scale))
    return model


def tiny_pair(
    seed: int = 0, *, noise: float = 0.1, **kwargs: Any
) -> tuple[llama.Model, llama.Model]:
    """A (draft, target) pair of tiny Llamas with the same vocabulary.

    The target is exactly ``tiny_llama(seed, **kwargs)``. The draft has the same
    architecture with every weight matrix perturbed by Gaussian noise of
    ``noise`` times that matrix's std, so it agrees with the target often but
    not always. With the default ``noise=0.1`` the draft's greedy choice
    matches the target's at roughly 60-80% of positions and the expected
    acceptance probability ``sum(min(p, q))`` is about 0.8, so a speculative
    loop with a few draft tokens exercises both the accept and the reject
    path. (Same size on purpose: these tests check correctness, not speed.)

    Args:
        seed: the target's weight seed; the draft's noise is derived from it.
        noise: relative noise std; 0 makes the draft identical to the target.
        **kwargs: passed to :func:`tiny_llama` (``vocab_size``, ...).

    Returns:
        ``(draft, target)``.
    """
    target = tiny_llama(seed, **kwargs)
    draft = tiny_llama(seed, **kwargs)
    rng = np.random.default_rng([seed, 1])  # independent of the weight stream
    weights = []
    for name, value in tree_flatten(target.parameters()):
        w = np.array(value, dtype=np.float64)
        if not name.endswith("norm.weight"):
            w = w + noise * w.std() * rng.normal(size=w.shape)
        weights.append((name, w))
    _load(draft, weights)
    return draft, target


# --------------------------------------------------------------------------
# Non-transformer models that still use real KV caches
# --------------------------------------------------------------------------


class _CachedToyModel(nn.Module):
    """Base for models computed from the token history rather than attention.

    The history lives in the cache itself: each call writes the token ids into
    the cache's *keys* (shape ``(B, 1, L, 1)``, float32, exact for ids below
    2**24) through the real ``KVCache.update_and_fetch``. So offsets, trimming,
    copying and using several caches with one model all behave exactly as with
    a transformer, and after ``trim_prompt_cache(cache, n)`` the model has
    forgotten the last ``n`` tokens because the cache has.
    """

    model_type = "toy"

    def __init__(self, vocab_size: int):
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be positive, got {vocab_size}")
        self.vocab_size = int(vocab_size)
        # make_prompt_cache uses make_cache(); `layers` is here for code that
        # counts layers the way mlx-lm does for models without make_cache.
        self.layers = [nn.Module()]

    def make_cache(self) -> list[KVCache]:
        """One real, trimmable ``KVCache`` (what ``make_prompt_cache`` returns)."""
        return [KVCache() for _ in self.layers]

    def _check_tokens(self, inputs: Any) -> np.ndarray:
        # As strict as a real model: it would fail (or silently read garbage
        # embeddings) on anything else, so student code must not get away
        # with it here.
        if not isinstance(inputs, mx.array):
            raise TypeError(
                f"{type(self).__name__} expects an mx.array of token ids with shape "
                f"(batch, length), e.g. tokens[None]; got {type(inputs).__name__}"
            )
        if inputs.ndim != 2:
            raise ValueError(
                f"{type(self).__name__} expects token ids of shape (batch, length) "
                f"(call model(tokens[None], cache=cache)); got shape {tuple(inputs.shape)}"
            )
        if not mx.issubdtype(inputs.dtype, mx.integer):
            raise TypeError(f"token ids must be an integer array, got {inputs.dtype}")
        tokens = np.array(inputs).astype(np.int64)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(
                f"token id out of range [0, {self.vocab_size}): "
                f"min {tokens.min()}, max {tokens.max()}"
            )
        return tokens

    def __call__(
        self,
        inputs: mx.array,
        cache: list[Any] | None = None,
        input_embeddings: mx.array | None = None,
    ) -> mx.array:
        """Logits for every position of ``inputs``.

        Args:
            inputs: int array ``(B, L)`` of token ids.
            cache: from ``make_prompt_cache(model)``; advanced by ``L``. ``None``
                means the tokens start at position 0 and nothing is remembered.
            input_embeddings: unsupported (there are no embeddings).

        Returns:
            float32 logits of shape ``(B, L, vocab_size)``.
        """
        if input_embeddings is not None:
            raise NotImplementedError(f"{type(self).__name__} has no input embeddings")
        tokens = self._check_tokens(inputs)
        batch, length = tokens.shape
        if cache is None:
            start, history = 0, tokens
        else:
            first = cache[0]
            shape = None if first.keys is None else tuple(first.keys.shape)
            if shape is not None and (shape[0], shape[1], shape[3]) != (batch, 1, 1):
                raise ValueError(
                    f"this cache does not belong to {type(self).__name__} or was made for "
                    f"another batch size (keys of shape {shape}): make one with "
                    "make_prompt_cache(model)"
                )
            start = first.offset
            ids = mx.array(tokens.astype(np.float32)).reshape(batch, 1, length, 1)
            for c in cache:
                c.update_and_fetch(ids, ids)
            history = np.array(cache[0].keys_and_values()[0]).reshape(batch, -1)
            history = history.astype(np.int64)
        logits = self._logits(history, start, length)
        return mx.array(logits.astype(np.float32))

    def _logits(self, history: np.ndarray, start: int, length: int) -> np.ndarray:
        """``history``: int64 ``(B, start + length)``; returns ``(B, length, V)``."""
        raise NotImplementedError


class ScriptedModel(_CachedToyModel):
    """A model whose prediction at every absolute position is scripted.

    At absolute position ``i`` (see the module docstring: the cache offset
    before the call plus the index inside the call) the logits are ``peak`` on
    one token and 0 elsewhere, so greedy decoding picks it and sampling picks
    it with probability ``1 / (1 + (V - 1) * exp(-peak))`` (> 0.9999998 for the
    defaults). The token is

    * ``script[i]`` when ``script`` is a sequence: the token predicted *after*
      seeing the token at position ``i``;
    * ``script(i, history)`` when ``script`` is a callable, where ``history`` is
      the list of token ids at positions ``0 .. i`` inclusive (so
      ``history[-1]`` is the token at position ``i``). The history comes from
      the cache, so it survives across cached calls and is forgotten after a
      trim, exactly like a transformer's context.

    Example::

        m = ScriptedModel(10, [5, 6, 7, 8])
        cache = make_prompt_cache(m)
        m(mx.array([[3, 4]]), cache=cache)    # positions 0, 1 -> argmax 5, 6
        m(mx.array([[9]]), cache=cache)       # position 2     -> argmax 7
        trim_prompt_cache(cache, 2)           # back to offset 1
        m(mx.array([[0, 0]]), cache=cache)    # positions 1, 2 -> argmax 6, 7

    With a prompt of length ``P`` the first generated token is
    ``script[P - 1]``; :meth:`for_prompt` builds the script from the prompt and
    the wanted continuation so tests need not count.

    Args:
        vocab_size: ``V``.
        script: a sequence of token ids or a callable ``(i, history) -> id``.
        peak: the scripted token's logit (others are 0).
        default: the token predicted at positions past the end of a sequence
            script; ``None`` makes such a call an ``IndexError``.
    """

    model_type = "scripted"

    def __init__(
        self,
        vocab_size: int,
        script: Sequence[int] | Callable[[int, list[int]], int],
        *,
        peak: float = 20.0,
        default: int | None = None,
    ):
        super().__init__(vocab_size)
        # Stored outside the nn.Module dict so parameters() stays empty.
        object.__setattr__(self, "_script", script if callable(script) else tuple(script))
        self.peak = float(peak)
        self.default = default

    @classmethod
    def for_prompt(
        cls,
        vocab_size: int,
        prompt: Sequence[int],
        continuation: Sequence[int],
        **kwargs: Any,
    ) -> "ScriptedModel":
        """A model that, given ``prompt``, greedily continues with ``continuation``.

        The script predicts the prompt itself on the prompt's positions (the
        logits there are rarely looked at) followed by ``continuation``, so
        ``script[len(prompt) - 1 + k] == continuation[k]``.

        Args:
            vocab_size: ``V``.
            prompt: the prompt's token ids (at least one).
            continuation: the tokens to generate after it.
            **kwargs: ``peak`` and ``default`` as for the constructor.
        """
        if len(prompt) < 1:
            raise ValueError("the prompt needs at least one token")
        return cls(vocab_size, list(prompt[1:]) + list(continuation), **kwargs)

    def scripted_token(self, position: int, history: Sequence[int]) -> int:
        """The token predicted at absolute ``position`` given ``history``
        (token ids at positions ``0 .. position``)."""
        script = self._script
        if callable(script):
            token = script(position, list(history))
        elif position < len(script):
            token = script[position]
        elif self.default is not None:
            token = self.default
        else:
            raise IndexError(
                f"ScriptedModel was asked for position {position} but its script has "
                f"only {len(script)} entries (positions 0..{len(script) - 1}); "
                "lengthen the script or pass default=..."
            )
        token = int(token)
        if not 0 <= token < self.vocab_size:
            raise ValueError(f"script gave token {token} outside [0, {self.vocab_size})")
        return token

    def _logits(self, history: np.ndarray, start: int, length: int) -> np.ndarray:
        batch = history.shape[0]
        logits = np.zeros((batch, length, self.vocab_size), dtype=np.float32)
        for b in range(batch):
            row = history[b].tolist()
            for j in range(length):
                i = start + j
                logits[b, j, self.scripted_token(i, row[: i + 1])] = self.peak
        return logits


class MarkovModel(_CachedToyModel):
    """A model whose next-token distribution depends only on the last token.

    The logits at a position holding token ``t`` are ``log(probs[t])`` (float32;
    entries with probability 0 get :data:`LOG_ZERO`), so ``softmax(logits / T)``
    equals ``exact_next_distribution(probs, t, T)``: every distribution a
    sampler should produce is known exactly, for whole continuations too
    (:func:`exact_sequence_distribution`).

    Args:
        probs: float array ``(V, V)``, row-stochastic: ``probs[a, b]`` is the
            probability that ``b`` follows ``a``.
    """

    model_type = "markov"

    def __init__(self, probs: np.ndarray):
        probs = _check_stochastic(probs)
        super().__init__(probs.shape[0])
        with np.errstate(divide="ignore"):
            table = np.maximum(np.log(probs), LOG_ZERO)
        object.__setattr__(self, "probs", probs)
        object.__setattr__(self, "_table", table.astype(np.float32))

    def _logits(self, history: np.ndarray, start: int, length: int) -> np.ndarray:
        return self._table[history[:, start : start + length]]


def _check_stochastic(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != probs.shape[1]:
        raise ValueError(f"probs must be a square (V, V) matrix, got shape {probs.shape}")
    if (probs < 0).any() or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("every row of probs must be a probability distribution")
    return probs / probs.sum(axis=1, keepdims=True)


def random_markov(
    vocab_size: int, seed: int, *, concentration: float = 0.5
) -> np.ndarray:
    """A random transition matrix for :class:`MarkovModel`.

    Each row is drawn from a symmetric Dirichlet distribution.

    Args:
        vocab_size: ``V``.
        seed: numpy seed.
        concentration: Dirichlet parameter; below 1 rows are peaked (a few
            likely tokens), above 1 they approach uniform.

    Returns:
        float64 array ``(V, V)`` whose rows sum to 1.
    """
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(vocab_size, concentration), size=vocab_size)
    return probs / probs.sum(axis=1, keepdims=True)


def perturbed(probs: np.ndarray, amount: float, seed: int) -> np.ndarray:
    """A related transition matrix, e.g. a draft for a target ``probs``.

    ``(1 - amount) * probs + amount * R`` with ``R = random_markov(V, seed,
    concentration=1)``. The mixture gives the draft some mass on tokens the
    target never emits, which a correct verifier must always reject.

    Args:
        probs: float array ``(V, V)``, row-stochastic.
        amount: in ``[0, 1]``; 0 returns a copy of ``probs``, 1 an unrelated matrix.
        seed: numpy seed for ``R``.

    Returns:
        float64 array ``(V, V)``, row-stochastic.
    """
    probs = _check_stochastic(probs)
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be in [0, 1], got {amount}")
    other = random_markov(probs.shape[0], seed, concentration=1.0)
    mixed = (1.0 - amount) * probs + amount * other
    return mixed / mixed.sum(axis=1, keepdims=True)


def exact_next_distribution(
    probs: np.ndarray, last_token: int, temperature: float = 1.0
) -> np.ndarray:
    """The distribution a correct sampler draws the next token from.

    ``probs[last_token] ** (1 / T)`` renormalised, which equals
    ``softmax(log(probs[last_token]) / T)``; ``T == 0`` means greedy (one-hot
    on the argmax, lowest index on ties, like ``np.argmax``/``mx.argmax``).

    Args:
        probs: float array ``(V, V)``, row-stochastic.
        last_token: the token the next one follows.
        temperature: ``T >= 0``.

    Returns:
        float64 array ``(V,)`` summing to 1.
    """
    row = np.asarray(probs, dtype=np.float64)[int(last_token)]
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        out = np.zeros_like(row)
        out[int(np.argmax(row))] = 1.0
        return out
    # Work in log space so small T does not underflow every entry.
    with np.errstate(divide="ignore"):
        scaled = np.log(row) / temperature
    scaled = np.exp(scaled - scaled.max())
    return scaled / scaled.sum()


def exact_sequence_distribution(
    probs: np.ndarray, last_token: int, n: int, temperature: float = 1.0
) -> dict[tuple[int, ...], float]:
    """The exact joint distribution of the next ``n`` tokens of a Markov model.

    ``P(t1..tn) = prod_k next(t_{k-1})[t_k]`` with ``t0 = last_token`` and
    ``next`` from :func:`exact_next_distribution` at ``temperature``. Sequences
    of probability 0 are left out, so a sampler that produces one fails
    :func:`specdec_course.stats.chi_square_gof` at once.

    Args:
        probs: float array ``(V, V)``, row-stochastic.
        last_token: the last token of the prompt.
        n: continuation length (``V ** n`` sequences at most: keep it small).
        temperature: ``T >= 0``.

    Returns:
        ``{(t1, ..., tn): probability}``, probabilities summing to 1.
    """
    probs = _check_stochastic(probs)
    vocab = probs.shape[0]
    nexts = np.stack([exact_next_distribution(probs, t, temperature) for t in range(vocab)])
    dist: dict[tuple[int, ...], float] = {(): 1.0}
    for _ in range(n):
        grown = {}
        for seq, p in dist.items():
            last = seq[-1] if seq else int(last_token)
            for t in np.flatnonzero(nexts[last]):
                grown[seq + (int(t),)] = p * float(nexts[last, t])
        dist = grown
    return dist


# --------------------------------------------------------------------------
# Wrappers
# --------------------------------------------------------------------------


class _Wrapper:
    """Forwards calls and every attribute (``layers``, ``make_cache``, ``args``,
    ``model_type``, ...) to the wrapped model, so ``make_prompt_cache`` and
    any other mlx-lm code treat the wrapper like the model itself."""

    def __init__(self, model: Any):
        self._inner = model

    @property
    def wrapped(self) -> Any:
        """The model inside."""
        return self._inner

    def __call__(self, *args: Any, **kwargs: Any) -> mx.array:
        return self._inner(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not found on the wrapper itself; guard
        # _inner so a half-built wrapper cannot recurse forever.
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._inner!r})"


class CountingModel(_Wrapper):
    """Counts the forward passes made through a model.

    Attributes:
        calls: number of forward passes since construction / :meth:`reset`.
        tokens_per_call: ``L`` (``inputs.shape[1]``) of each pass, in order.
        start_positions: ``cache[0].offset`` before each pass (``None`` for a
            pass without a cache): where in the sequence each pass started.
        inputs: the token ids of each pass (row 0), so a test can check that
            the model saw the true sequence at the positions it claims.

    Args:
        model: any mlx-lm style model.
    """

    def __init__(self, model: Any):
        super().__init__(model)
        self.calls = 0
        self.tokens_per_call: list[int] = []
        self.start_positions: list[int | None] = []
        self.inputs: list[list[int]] = []

    def __call__(self, inputs: mx.array, *args: Any, **kwargs: Any) -> mx.array:
        cache = kwargs.get("cache", args[0] if args else None)
        self.calls += 1
        self.tokens_per_call.append(int(inputs.shape[1]) if inputs.ndim >= 2 else int(inputs.shape[0]))
        self.start_positions.append(None if not cache else int(cache[0].offset))
        self.inputs.append(inputs.reshape(-1, inputs.shape[-1])[0].tolist() if inputs.ndim else [])
        return self._inner(inputs, *args, **kwargs)

    @property
    def total_tokens(self) -> int:
        """Sum of :attr:`tokens_per_call`."""
        return sum(self.tokens_per_call)

    def reset(self) -> None:
        """Zero the counters."""
        self.calls = 0
        self.tokens_per_call = []
        self.start_positions = []
        self.inputs = []


_UNTRIMMABLE_CLASSES: dict[type, type] = {}


def _untrimmable_class(cls: type) -> type:
    if cls not in _UNTRIMMABLE_CLASSES:

        def is_trimmable(self: Any) -> bool:
            return False

        def trim(self: Any, n: int) -> int:
            raise NotImplementedError(
                "this cache cannot be trimmed (check can_trim_prompt_cache first)"
            )

        _UNTRIMMABLE_CLASSES[cls] = type(
            f"Untrimmable{cls.__name__}", (cls,), {"is_trimmable": is_trimmable, "trim": trim}
        )
    return _UNTRIMMABLE_CLASSES[cls]


class _UntrimmableModel(_Wrapper):
    def make_cache(self) -> list[Any]:
        caches = make_prompt_cache(self._inner)
        for c in caches:
            # The cache keeps working as before; only trimming is refused, as
            # with mlx-lm's rotating or state-space caches.
            c.__class__ = _untrimmable_class(type(c))
        return caches


def untrimmable(model: Any) -> Any:
    """Wrap ``model`` so its prompt caches cannot be trimmed.

    ``make_prompt_cache(wrapped)`` returns caches that work normally but whose
    ``is_trimmable()`` is ``False`` (so ``can_trim_prompt_cache`` is ``False``
    and ``trim_prompt_cache`` trims nothing) and whose ``trim`` raises. Use it to
    check that speculative decoding refuses such a model clearly instead of
    silently keeping rejected tokens in the cache.

    Args:
        model: any mlx-lm style model.

    Returns:
        A wrapper that forwards everything else to ``model``.
    """
    return _UntrimmableModel(model)

