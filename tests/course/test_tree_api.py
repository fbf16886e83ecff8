"""specdec_course.api.trees: one tree pass over any RoPE model, keeping one path (tool tests).

Bugs caught: node logits that differ from a plain pass over the node's path (mask or positions
wrong in the machinery, for the fast per-row rope and for the fallback by runs of depths), ropes
left patched after a pass (also after an exception), rotating / quantized caches or rope-less
models accepted instead of refused with one clear message, and keep_path moving the wrong
entries.
"""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx_lm.models.cache import KVCache, RotatingKVCache, make_prompt_cache

from specdec_course.api import trees
from specdec_course.api.trees import check_tree_model, keep_path, tree_forward
from specdec_course.testing import ScriptedModel, logit_atol, tiny_llama

PROMPT = [3, 7, 11, 2]
PARENTS = [-1, 0, 0, 1, 1, 3, -1, 6]  # two roots; depths 0 1 1 2 2 3 0 1
TOKENS = [5, 9, 12, 40, 41, 3, 8, 30]


def closure(parents):
    """Mask and depths computed here, independently of student code."""
    n = len(parents)
    mask = np.zeros((n, n), bool)
    depths = []
    for i, parent in enumerate(parents):
        if parent >= 0:
            mask[i] = mask[parent]
        mask[i, i] = True
        depths.append(depths[parent] + 1 if parent >= 0 else 0)
    return mx.array(mask), mx.array(depths)


def path_tokens(node):
    out = []
    while node >= 0:
        out.append(TOKENS[node])
        node = PARENTS[node]
    return out[::-1]


class ScalarOffsetRope(nn.Module):
    """A rope that only takes an int offset (as some rope variants do): forces the fallback."""

    def __init__(self, rope):
        super().__init__()
        self.inner = rope

    def __call__(self, x, offset=0):
        if not isinstance(offset, int):
            raise TypeError("int offsets only")
        return self.inner(x, offset=offset)


def tree_logits(model):
    cache = make_prompt_cache(model)
    model(mx.array(PROMPT)[None], cache=cache)
    mask, depths = closure(PARENTS)
    return cache, tree_forward(model, TOKENS, cache, mask, depths)


@pytest.mark.parametrize("rope", ["per-row offsets", "runs of depths"])
def test_every_node_gets_its_paths_logits(rope, monkeypatch):
    model = tiny_llama(5)
    if rope == "runs of depths":
        for layer in model.layers:
            layer.self_attn.rope = ScalarOffsetRope(layer.self_attn.rope)
    originals = [layer.self_attn.rope for layer in model.layers]
    # Which path rotated the nodes: each call's result records True for the one-call fast
    # path and False for the fallback by runs (the first call per rope class runs both).
    used = []
    real_per_row, real_by_runs = trees._DepthRope._per_row, trees._DepthRope._by_runs

    def per_row(self, *args):
        out = real_per_row(self, *args)
        used.append(out is not None)
        return out

    def by_runs(self, *args):
        used.append(False)
        return real_by_runs(self, *args)

    monkeypatch.setattr(trees._DepthRope, "_per_row", per_row)
    monkeypatch.setattr(trees._DepthRope, "_by_runs", by_runs)
    tree_logits(model)  # the first pass may check the fast path against the runs
    used.clear()
    cache, logits = tree_logits(model)
    if rope == "per-row offsets":
        assert used and all(used), (
            "mx.fast.rope takes one offset per row, so every rotation of the second pass should "
            f"take the one-call fast path; got fast/slow {used}"
        )
    else:
        assert used and not any(used), f"an int-only rope must use the runs; got {used}"
    assert [layer.self_attn.rope for layer in model.layers] == originals, "ropes not restored"
    assert cache[0].offset == len(PROMPT) + len(TOKENS)
    for node in range(len(TOKENS)):
        want = model(mx.array(PROMPT + path_tokens(node))[None])[0, -1]
        err = float(mx.abs(logits[node] - want).max())
        assert err <= logit_atol(want), f"{rope}: node {node} off by {err:.3g}"


def test_ropes_restored_after_an_exception(monkeypatch):
    model = tiny_llama(5)
    originals = [layer.self_attn.rope for layer in model.layers]
    cache = make_prompt_cache(model)
    mask, depths = closure(PARENTS)

    def boom(self, x):
        raise RuntimeError("boom")

    monkeypatch.setattr(nn.RMSNorm, "__call__", boom)
    with pytest.raises(RuntimeError, match="boom"):
        tree_forward(model, TOKENS, cache, mask, depths)
    assert [layer.self_attn.rope for layer in model.layers] == originals


def test_keep_path_moves_the_path_after_the_prefix():
    model = tiny_llama(5)
    cache, _ = tree_logits(model)
    keep_path(cache, len(PROMPT), [0, 1, 4])
    plain = make_prompt_cache(model)
    model(mx.array(PROMPT + path_tokens(4))[None], cache=plain)
    for got, want in zip(cache, plain, strict=True):
        assert got.offset == want.offset
        for a, b in ((got.keys, want.keys), (got.values, want.values)):
            a, b = a[..., : got.offset, :], b[..., : want.offset, :]
            assert float(mx.abs(a - b).max()) <= logit_atol(b)


def test_keep_path_refuses_a_non_path():
    model = tiny_llama(5)
    cache, _ = tree_logits(model)
    with pytest.raises(ValueError, match="increasing"):
        keep_path(cache, len(PROMPT), [3, 1])
    with pytest.raises(ValueError, match="increasing"):
        keep_path(cache, len(PROMPT), [0, len(TOKENS)])


def test_toy_models_read_the_tree_from_the_cache():
    # history-dependent script: the node's whole path and its position (prefix + depth) matter
    model = ScriptedModel(64, lambda i, history: (sum(history) * 3 + i) % 64)
    cache, logits = tree_logits(model)
    for node in range(len(TOKENS)):
        want = model(mx.array(PROMPT + path_tokens(node))[None])[0, -1]
        assert int(mx.argmax(logits[node])) == int(mx.argmax(want)), f"node {node}"


def test_refusals():
    model = tiny_llama(5)
    check_tree_model(model)  # fine

    class Rotating:
        layers = model.layers

        def make_cache(self):
            return [RotatingKVCache(max_size=16) for _ in self.layers]

    with pytest.raises(ValueError, match="RotatingKVCache"):
        check_tree_model(Rotating())

    class NoRope(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(2, 2)]

        def make_cache(self):
            return [KVCache()]

    with pytest.raises(ValueError, match="rope"):
        check_tree_model(NoRope())
    mask, depths = closure([-1, 0])
    with pytest.raises(ValueError, match="shape"):
        tree_forward(model, [1, 2, 3], make_prompt_cache(model), mask, depths)
    assert trees.__all__ == ["check_tree_model", "keep_path", "tree_forward"]
