"""The course's table of tasks: which chapter teaches which function.

One registry drives the stub messages, ``specdec test``'s summary, and the
self-check, so a chapter, its stubs and its tests cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chapter:
    """One day of the course.

    Attributes:
        week: week number (1-based).
        day: day number within the week (1-based).
        slug: chapter file name without ``.md`` under ``book/src``.
        title: human title.
        tasks: qualified names inside ``specdec`` that students write this
            day, e.g. ``"sampling.sample_token"`` or
            ``"decoder.SpeculativeDecoder.generate"``.
    """

    week: int
    day: int
    slug: str
    title: str
    tasks: tuple[str, ...]

    @property
    def marker(self) -> str:
        """The pytest marker of this chapter's tests, e.g. ``"w1d1"``."""
        return f"w{self.week}d{self.day}"

    @property
    def label(self) -> str:
        """``"Week 1 Day 1"``."""
        return f"Week {self.week} Day {self.day}"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, 1, "week1-01-sampling", "Logits, temperature and sampling in MLX",
            ("sampling.logits_to_probs", "sampling.sample_from_probs", "sampling.sample_token")),
    Chapter(1, 2, "week1-02-baseline", "The autoregressive baseline",
            ("baseline.autoregressive_generate",)),
    Chapter(1, 3, "week1-03-drafting", "Drafting with a KV cache",
            ("decoder.SpeculativeDecoder.__init__", "decoder.SpeculativeDecoder.draft_generation")),
    Chapter(1, 4, "week1-04-verify", "Verification: accept, reject, correct",
            ("verify.verify_speculation",)),
    Chapter(1, 5, "week1-05-loop", "The full lossless loop",
            ("decoder.SpeculativeDecoder.generate",)),
    Chapter(2, 1, "week2-01-theory", "Speedup theory and a simulator",
            ("theory", "simulator", "pictures")),
    Chapter(2, 2, "week2-02-benchmark", "Measuring for real",
            ("metrics",)),
    Chapter(2, 3, "week2-03-adaptive", "AdaptiveSpeculator: a lookahead that tunes itself",
            ("adaptive.AdaptiveSpeculator",)),
    Chapter(3, 1, "week3-01-ragged", "Ragged batches in MLX",
            ("ragged",)),
    Chapter(3, 2, "week3-02-batched-verify", "Batched verification",
            ("batched_verify",)),
    Chapter(3, 3, "week3-03-batched-loop", "The batched speculative loop",
            ("batched.batched_speculative_generate",)),
    Chapter(4, 1, "week4-01-prompt-lookup", "Prompt lookup: drafting without a draft model",
            ("ngram", "lookup")),
    Chapter(4, 2, "week4-02-token-trees", "Token trees: many drafts, one verify",
            ("trees", "multidraft")),
    Chapter(4, 3, "week4-03-fast-path", "The fast path: one sync per round",
            ("fastloop",)),
    Chapter(5, 1, "week5-01-row-lookahead", "Per-row lookahead inside one batch",
            ("rowpolicy.RowLookahead", "rowspec.start_rows", "rowspec.speculative_round",
             "rowspec.settle_row", "rowspec.rowwise_speculative_generate")),
    Chapter(5, 2, "week5-02-continuous-batching", "Continuous batching with speculation",
            ("serving.SpeculativeEngine",)),
    Chapter(5, 3, "week5-03-serving-bench", "The serving bench: throughput and latency under load",
            ("servestats",)),
)

#: Public functions of task modules that students are GIVEN whole: no solution region, no
#: chapter, copied into the stub as they are (the parity check wants the reference's body).
#: Any other public function of a task module must be a registered task.
GIVEN: tuple[str, ...] = (
    "batched.batched_speculative_decode",  # the design card's call: W3D3's tokens only
    # Week 5's plumbing around the tasks: Week 3's rule as a policy, the batch's state,
    # row filtering and joining, and the engine's request record.
    "rowpolicy.FixedLookahead",
    "rowspec.RowBatch",
    "rowspec.RowOutcome",
    "rowspec.keep_rows",
    "rowspec.join_batches",
    "rowspec.as_policy",
    "serving.Request",
)


def chapter(week: int, day: int) -> Chapter:
    """The chapter for a week and day.

    Raises:
        KeyError: naming the chapters that exist.
    """
    for ch in CHAPTERS:
        if (ch.week, ch.day) == (week, day):
            return ch
    have = ", ".join(f"--week {c.week} --day {c.day}" for c in CHAPTERS)
    raise KeyError(f"there is no Week {week} Day {day} chapter; chapters with tasks: {have}")


def chapter_of_task(qualname: str) -> Chapter | None:
    """The chapter that teaches ``qualname`` (``module.func`` or ``module.Class.method``).

    A name not listed itself belongs to the closest listed prefix: a class
    entry (``"adaptive.AdaptiveSpeculator"``) covers all its methods and a
    module entry (``"theory"``) every function in the module.
    """
    parts = qualname.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        for ch in CHAPTERS:
            if prefix in ch.tasks:
                return ch
    return None


def stub_message(qualname: str) -> str:
    """The exact ``NotImplementedError`` text a student stub raises."""
    ch = chapter_of_task(qualname)
    if ch is None:
        raise KeyError(f"{qualname} is not a registered task: add it to CHAPTERS in specdec_course/core/tasks.py")
    short = qualname.split(".", 1)[1]
    return f"{ch.label} task `{short}` is not written yet: see book chapter {ch.slug}"


def chapter_of_stub_message(message: str) -> Chapter | None:
    """The chapter named by a stub's ``NotImplementedError`` text, or None."""
    for ch in CHAPTERS:
        if message.startswith(f"{ch.label} task ") and message.endswith(ch.slug):
            return ch
    return None
