"""What a generation returns: the tokens and the counts that explain its speed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GenerationResult:
    """Tokens produced by one generation plus the figures the course reports.

    Attributes:
        tokens: generated token ids, prompt excluded; ends at the first EOS
            (inclusive) or after ``max_tokens``.
        target_calls: forward passes of the target model (prefill included).
        draft_calls: forward passes of the draft model (prefill included).
        tokens_drafted: draft tokens proposed for verification.
        tokens_accepted: draft tokens the target accepted.
        accepted_per_round: accepted draft tokens in each round; a round is
            one verify (target) call, and a step with nothing drafted (K = 0)
            is a round with 0 drafted and 0 accepted.
        drafted_per_round: draft tokens proposed in each round (the lookahead
            actually used, which shrinks near ``max_tokens`` or adapts).
        finish_reason: ``"eos"`` or ``"length"``.
    """

    tokens: list[int] = field(default_factory=list)
    target_calls: int = 0
    draft_calls: int = 0
    tokens_drafted: int = 0
    tokens_accepted: int = 0
    accepted_per_round: list[int] = field(default_factory=list)
    drafted_per_round: list[int] = field(default_factory=list)
    finish_reason: str = "length"

    @property
    def rounds(self) -> int:
        """Number of rounds: target calls after the prefill."""
        return len(self.accepted_per_round)

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drafted (0.0 when nothing was drafted)."""
        return self.tokens_accepted / self.tokens_drafted if self.tokens_drafted else 0.0

    @property
    def mean_accepted_per_round(self) -> float:
        """Mean accepted draft tokens per round (0.0 without rounds)."""
        return sum(self.accepted_per_round) / self.rounds if self.rounds else 0.0

    @property
    def tokens_per_target_call(self) -> float:
        """Generated tokens per target forward pass: 1.0 for plain decoding."""
        return len(self.tokens) / self.target_calls if self.target_calls else 0.0

    def record_round(self, drafted: int, accepted: int) -> None:
        """Add one speculative round's counts."""
        self.drafted_per_round.append(drafted)
        self.accepted_per_round.append(accepted)
        self.tokens_drafted += drafted
        self.tokens_accepted += accepted
