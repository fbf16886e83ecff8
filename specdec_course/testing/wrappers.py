"""Wrappers around any model: counting forward passes, or untrimmable caches."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import make_prompt_cache

from specdec_course.testing.guards import refuse_empty

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
        refuse_empty(inputs, f"{type(self._inner).__name__} (counted)")
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
