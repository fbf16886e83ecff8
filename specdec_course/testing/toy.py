"""Non-transformer models with real KV caches whose behaviour is scripted or exact.

``ScriptedModel`` forces a greedy choice at every position; ``MarkovModel`` has a next-token
distribution that depends only on the last token, so whole continuations have exact laws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models.cache import KVCache

from specdec_course.testing.guards import refuse_empty

LOG_ZERO = -1.0e4


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
    #: Token trees (specdec_course.api.trees): no attention to mask, no rope to move, so these
    #: models read the tree from the cache themselves (:meth:`_tree_logits`).
    reads_tree_from_cache = True

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
        refuse_empty(inputs, type(self).__name__)
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
            tree_mask = getattr(cache[0], "tree_mask", None)
            if tree_mask is not None:
                return self._tree_logits(history, start, tree_mask, cache[0].tree_depths)
        logits = self._logits(history, start, length)
        return mx.array(logits.astype(np.float32))

    def _tree_logits(self, history: np.ndarray, start: int, mask: mx.array, depths: mx.array):
        """A tree pass: node ``j`` sees the prefix and the other nodes ``mask[j]`` allows, in
        order, and sits at position ``start + depths[j]``: its root-to-node path when the tree
        is right. A wrong tree gives wrong logits (padded with token 0 or cut from the front),
        as a transformer would, not an exception."""
        allowed, depth = np.array(mask).astype(bool), np.array(depths).astype(np.int64)
        nodes, rows = history[:, start:], []
        np.fill_diagonal(allowed, False)  # each node's own token is placed last, below
        for j in range(allowed.shape[0]):
            seen = np.concatenate([history[:, :start], nodes[:, allowed[j]]], 1)
            pos = start + int(depth[j])
            before = seen[:, max(0, seen.shape[1] - pos) :]
            pad = np.zeros((seen.shape[0], pos - before.shape[1]), dtype=np.int64)
            rows.append(self._logits(np.concatenate([pad, before, nodes[:, j : j + 1]], 1), pos, 1))
        return mx.array(np.concatenate(rows, axis=1).astype(np.float32))

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
    ) -> ScriptedModel:
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
