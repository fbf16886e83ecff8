"""Shared helpers for the Week 5 tests: scripted policies and speculation by its definition."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from specdec.rowpolicy import FixedLookahead
from tests.w3_helpers import HistoryScripted, history_hash, sometimes_wrong

V = 32


def scripted_pair(every: int = 3, vocab: int = V) -> tuple[HistoryScripted, HistoryScripted]:
    """(draft, target) choosing from the whole visible history; the draft is wrong at about
    1 in ``every`` positions. A stale, missing or foreign token in a cache changes the models'
    choices, and the exact expected output comes from the scripts alone."""
    script = history_hash(vocab)
    return HistoryScripted(vocab, sometimes_wrong(script, vocab, every)), HistoryScripted(
        vocab, script
    )


def split_pair(vocab: int = V) -> tuple[HistoryScripted, HistoryScripted]:
    """(draft, target) where the draft is always right for prompts starting with token 1 and
    always wrong for the others: one row accepts everything, another nothing."""
    script = history_hash(vocab)

    def draft(history: list[int]) -> int:
        t = script(history)
        return t if history[0] == 1 else (t + 1) % vocab

    return HistoryScripted(vocab, draft), HistoryScripted(vocab, script)


class ScheduledPolicy(FixedLookahead):
    """A policy that plays a given K per round (cycled) and records what it was told."""

    def __init__(self, schedule: Sequence[int]):
        super().__init__(max(schedule))
        self.schedule = list(schedule)
        self.rounds = 0
        self.observed: dict[int, list[tuple[int, int]]] = {}
        self.added: list[int] = []
        self.removed: list[int] = []
        self.plans: list[tuple[int, list[int]]] = []

    def add_row(self, row_id: int) -> None:
        self.added.append(row_id)
        self.observed[row_id] = []

    def remove_row(self, row_id: int) -> None:
        self.removed.append(row_id)

    def observe(self, row_id: int, drafted: int, accepted: int) -> None:
        self.observed[row_id].append((drafted, accepted))

    def plan(self, row_ids, remaining):
        k = self.schedule[self.rounds % len(self.schedule)]
        self.rounds += 1
        counts = [min(k, r - 1) for r in remaining]
        self.plans.append((k, counts))
        return k, counts


def scheduled_speculation(
    draft: Callable[[list[int]], int],
    target: Callable[[list[int]], int],
    prompt: list[int],
    budget: int,
    ks: Sequence[int],
) -> tuple[list[int], list[int], list[int]]:
    """Greedy speculation by its definition, from the scripts alone, with K = ``ks[i]`` in round i.

    The first token comes from the prompt (admission); then each round drafts
    ``min(K, remaining - 1)`` tokens with the draft script and keeps the leading ones the
    target script agrees with, plus the target's own next token.

    Returns:
        ``(tokens, accepted per round, drafted per round)``.
    """
    seq = list(prompt)
    tokens = [target(seq)]
    seq.append(tokens[0])
    accepted, drafted = [], []
    i = 0
    while len(tokens) < budget:
        k = min(ks[i % len(ks)], budget - len(tokens) - 1)
        i += 1
        drafts: list[int] = []
        for _ in range(k):
            drafts.append(draft(seq + drafts))
        n = 0
        while n < k and target(seq + drafts[:n]) == drafts[n]:
            n += 1
        emitted = drafts[:n] + [target(seq + drafts[:n])]
        tokens += emitted
        seq += emitted
        accepted.append(n)
        drafted.append(k)
    return tokens, accepted, drafted
