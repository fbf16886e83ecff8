"""Tiny real ``mlx_lm`` Llama models with random weights, built in milliseconds."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.models import llama

from specdec_course.testing.guards import refuse_empty, refuse_other_batch

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


class GuardedLlama(llama.Model):
    """``mlx_lm``'s Llama, except that an empty input fails with a message naming the bug."""

    def __call__(self, inputs: mx.array, *args: Any, **kwargs: Any) -> mx.array:
        refuse_empty(inputs, "the tiny Llama")
        refuse_other_batch(inputs, kwargs.get("cache", args[0] if args else None), "the tiny Llama")
        return super().__call__(inputs, *args, **kwargs)


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
    model = GuardedLlama(args)
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
