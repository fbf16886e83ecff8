"""The serving bench's engines: mlx-lm's ``BatchGenerator`` as a ``ServingEngine``, and the roster.

Every engine the bench drives speaks :class:`specdec_course.api.serving.ServingEngine`
(``submit`` / ``step`` / ``has_work``, ``Emitted`` records). :class:`MlxLmEngine` adapts
mlx-lm's continuous batching to it; :func:`engine_roster` names every engine of the bench
and how to build a fresh one. The course's engines come from the student package
(``specdec.serving``, Week 5 Day 2; ``specdec.rowspec``, Week 5 Day 1), imported only when an
engine is built: a module that is missing or still a stub raises ``NotImplementedError``,
and the bench skips that engine and says which task unlocks it (:func:`.frame.probe`).

May import: ``core``, ``api`` (and the student package ``specdec``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from specdec_course.api.serving import BatchCosts, Emitted, ServingEngine
from specdec_course.api.validation import check_count, eos_ids, token_list

#: The engines' names in the bench's tables (and in recorded runs).
MLX = "mlx-lm BatchGenerator"
TARGET_ONLY = "continuous target-only"
ADAPTIVE = "per-row adaptive"


def spec_name(k: int) -> str:
    """``"continuous spec K=3"``: the fixed-lookahead speculative engine's row."""
    return f"continuous spec K={k}"


class MlxLmEngine:
    """mlx-lm's ``BatchGenerator`` (continuous batching, greedy) as a :class:`ServingEngine`.

    One :meth:`step` is one ``next_generated()`` call: mlx-lm admits waiting requests into
    free slots (their prefill), runs one decoding step for every live row and returns one
    token per live request.

    Args:
        target: the mlx-lm model.
        slots: rows decoded together (``completion_batch_size``; also the prefill batch).
        eos_token_id: an id or ids that end a request (none by default: every request runs
            to its ``max_tokens``).
    """

    def __init__(
        self, target: Any, *, slots: int = 8, eos_token_id: int | Sequence[int] | None = None
    ) -> None:
        from mlx_lm.generate import BatchGenerator

        check_count(slots, "slots", low=1)
        stop = [[i] for i in sorted(eos_ids(eos_token_id))] or None
        self._gen = BatchGenerator(
            target, stop_tokens=stop, completion_batch_size=slots, prefill_batch_size=slots
        )
        self._ids: dict[int, int] = {}  # mlx-lm uid -> our request id
        self._empty: list[Emitted] = []  # max_tokens=0 requests, reported at the next step
        self._next_id = 0

    def submit(self, prompt: list[int], max_tokens: int = 100) -> int:
        """Queue one request; return its id."""
        prompt = token_list(prompt, what="prompt")
        check_count(max_tokens, "max_tokens")
        rid, self._next_id = self._next_id, self._next_id + 1
        if max_tokens == 0:  # mlx-lm refuses max_tokens <= 0: done at once, no tokens
            self._empty.append(Emitted(rid, [], True, "length"))
            return rid
        (uid,) = self._gen.insert([prompt], max_tokens=[max_tokens])
        self._ids[uid] = rid
        return rid

    def step(self) -> list[Emitted]:
        """One mlx-lm step: one token per live request (``"stop"`` reported as ``"eos"``)."""
        out, self._empty = self._empty, []
        if not self._ids:
            return out
        for r in self._gen.next_generated():
            finished = r.finish_reason is not None
            reason = {"stop": "eos"}.get(r.finish_reason, r.finish_reason)
            rid = self._ids.pop(r.uid) if finished else self._ids[r.uid]
            out.append(Emitted(rid, [int(r.token)], finished, reason))
        return out

    def has_work(self) -> bool:
        """True while a request is waiting or live."""
        return bool(self._ids or self._empty)

    def close(self) -> None:
        """Give back what mlx-lm holds (its wired-memory limit on a Mac)."""
        self._gen.close()


def _speculative(
    draft: Any, target: Any, slots: int, lookahead: Callable[[], Any]
) -> ServingEngine:
    """A fresh ``specdec.serving.SpeculativeEngine``; NotImplementedError if it is not there."""
    try:
        from specdec.serving import SpeculativeEngine
    except ImportError as err:  # the module of Week 5 Day 2 is not in this implementation
        raise NotImplementedError(
            f"specdec.serving.SpeculativeEngine (Week 5 Day 2) is not in this package: {err}"
        ) from None
    return SpeculativeEngine(draft, target, slots=slots, lookahead=lookahead())


def engine_roster(
    draft: Any,
    target: Any,
    *,
    slots: int,
    ks: Sequence[int],
    costs: Callable[[], BatchCosts],
) -> dict[str, Callable[[], ServingEngine]]:
    """Every engine of the bench, by name, each as a call that builds a fresh one.

    Args:
        draft, target: the model pair.
        slots: rows every engine decodes together.
        ks: the fixed lookaheads (one ``continuous spec K=k`` engine each; ``K >= 1``).
        costs: gives the cost table the per-row adaptive engine's policy reads (called when
            that engine is first built, so a bench without it measures nothing).
    """

    def adaptive() -> ServingEngine:
        from specdec_course.bench.serve_costs import online_adaptive

        try:
            return online_adaptive(draft, target, slots=slots, costs=costs(), k_max=max(ks))
        except ImportError as err:  # Week 5 Days 1-2's modules are not in this package
            raise NotImplementedError(
                f"specdec.rowpolicy / specdec.serving (Week 5) are not in this package: {err}"
            ) from None

    roster: dict[str, Callable[[], ServingEngine]] = {
        MLX: lambda: MlxLmEngine(target, slots=slots),
        TARGET_ONLY: lambda: _speculative(None, target, slots, lambda: 0),
    }
    for k in ks:
        roster[spec_name(k)] = lambda k=k: _speculative(draft, target, slots, lambda: k)
    roster[ADAPTIVE] = adaptive
    return roster
