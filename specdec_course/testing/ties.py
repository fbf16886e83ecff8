"""Float noise and near-ties: what "lossless" can promise when logits are not bitwise stable.

On a GPU (Metal, CUDA) the same model gives slightly different logits for the same position
when the call's shape differs: one (K+1)-token verify pass reduces in another order than K+1
single-token steps, and on NVIDIA GPUs float32 matmuls may run on TF32 tensor cores (10-bit
mantissa; Apple GPUs have no TF32). On MLX's CUDA backend the tiny float32 test models
differed by ~2e-3 between cached step-by-step logits and one full pass; bfloat16 logits move
by whole ulps. 2**-10 is therefore a deliberately loose float32 tolerance, not its precision.

One notion serves the tests and the bench alike:

* :func:`compute_eps` - the relative precision a backend may really compute a dtype at.
* :func:`logit_atol` - the tolerance for comparing two computations of the same logits.
* :func:`near_tie_gap` - a top-2 gap below this is a *near-tie*: either token may win on
  another backend or batch shape, so greedy decoders may legitimately differ there.
* :func:`greedy_margins` / :class:`NearTieError` - a test model's greedy run must keep
  every step's gap above the near-tie gap, or the test refuses to run on it (never luck).
* :func:`greedy_equal_or_tie` - the greedy-equality check for real models: equal token for
  token, except at named near-ties, which it reports.

May import: ``core``, ``api`` (this module imports only mlx and numpy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import numpy as np

#: TF32's machine epsilon (10 explicit mantissa bits): GPUs may compute float32 matmuls at
#: this precision, so float32 logits are only trusted to it.
TF32_EPS = 2.0**-10
#: How many units of :func:`compute_eps` (relative to the largest logit) two computations of
#: the same logits may differ by. 4 covers the measured CUDA noise of the tiny float32 test
#: models (2e-3 at logits ~8: ~0.25 units) sixteen times over.
NEAR_TIE_ULPS = 4.0
#: Backwards-compatible absolute floor of the near-tie gap (the bench's old constant).
NEAR_TIE_GAP = 1e-3


def compute_eps(dtype: mx.Dtype = mx.float32) -> float:
    """The relative precision logits of ``dtype`` may really be computed at on any backend.

    Args:
        dtype: the logits' (or the model's) dtype.

    Returns:
        ``max(finfo(dtype).eps, TF32_EPS)``: 2**-10 for float32 (tensor cores) and float16,
        2**-7 for bfloat16.
    """
    eps = float(mx.finfo(dtype).eps) if mx.issubdtype(dtype, mx.floating) else 0.0
    return max(eps, TF32_EPS)


def near_tie_gap(top_logit: float, dtype: mx.Dtype = mx.float32) -> float:
    """The top-2 gap below which a greedy choice is a near-tie (backend-dependent).

    Args:
        top_logit: the largest logit at that position (its scale sets the rounding).
        dtype: the logits' dtype.

    Returns:
        ``max(NEAR_TIE_GAP, NEAR_TIE_ULPS * compute_eps(dtype) * max(1, |top_logit|))``;
        e.g. 0.031 for float32 logits around 8, 0.25 for bfloat16 logits around 8.
    """
    return max(NEAR_TIE_GAP, NEAR_TIE_ULPS * compute_eps(dtype) * max(1.0, abs(top_logit)))


def logit_atol(reference: Any, *, dtype: mx.Dtype | None = None, c: float = 1.0) -> float:
    """Absolute tolerance for comparing two computations of the same logits.

    Two passes over the same tokens with different shapes (cached steps vs one full pass)
    may differ by a few units of :func:`compute_eps` relative to the logits' scale, taken as
    the largest |row maximum| (the same scale as :func:`near_tie_gap`; masked entries such as
    ``LOG_ZERO`` do not inflate it). The tolerance is
    ``c * NEAR_TIE_ULPS * compute_eps(dtype) * max(1, scale)``: about 0.03 for the tiny
    float32 test models (top logits up to ~8), while a row from the wrong position differs
    by O(1).

    Args:
        reference: the logits computed one way (mx.array or numpy array, any shape).
        dtype: their dtype (default: the array's own, float32 for numpy input).
        c: a multiplier for comparisons that accumulate more rounding.

    Returns:
        The absolute tolerance (float).
    """
    if dtype is None:
        dtype = reference.dtype if isinstance(reference, mx.array) else mx.float32
    arr = reference.astype(mx.float32) if isinstance(reference, mx.array) else reference
    values = np.asarray(arr, dtype=np.float64)
    scale = float(np.max(np.abs(values.max(axis=-1)), initial=0.0)) if values.size else 0.0
    return c * NEAR_TIE_ULPS * compute_eps(dtype) * max(1.0, scale)


# --------------------------------------------------------------------------
# Top-2 gaps
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class TopTwo:
    """The two best logits at one position and whether they are a near-tie."""

    best: int
    runner_up: int
    top_logit: float
    gap: float
    tie_gap: float

    @property
    def near_tie(self) -> bool:
        """The gap is below :func:`near_tie_gap`: another backend may pick ``runner_up``."""
        return self.gap < self.tie_gap


def top_two(row: mx.array) -> TopTwo:
    """:class:`TopTwo` of one logits row of shape ``(V,)`` (any float dtype, V >= 2)."""
    if row.ndim != 1 or row.shape[0] < 2:
        raise ValueError(f"top_two needs one logits row of shape (V,) with V >= 2, got {row.shape}")
    values = np.asarray(row.astype(mx.float32), dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    best, second = int(order[0]), int(order[1])
    top = float(values[best])
    return TopTwo(best, second, top, top - float(values[second]), near_tie_gap(top, row.dtype))


def top2(model: Any, context: Sequence[int]) -> TopTwo:
    """:class:`TopTwo` of ``model``'s next-token logits after ``context`` (one uncached pass)."""
    return top_two(model(mx.array(list(context))[None])[0, -1])


def top2_gap(model: Any, context: Sequence[int]) -> float:
    """Gap between the model's two largest logits after ``context`` (one uncached pass)."""
    return top2(model, context).gap


class NearTieError(AssertionError):
    """A test model's greedy run has a near-tie: the test could pass or fail by luck."""


def greedy_margins(rows: Sequence[mx.array], *, what: str = "the model") -> list[TopTwo]:
    """Check that every step of a greedy run has a clear winner.

    Args:
        rows: the logits row (shape ``(V,)``) each greedy token was chosen from.
        what: names the model/prompt in the error.

    Returns:
        The :class:`TopTwo` of every step.

    Raises:
        NearTieError: at the first near-tie, naming the step, gap and threshold: pick another
            seed/prompt for the test (its outcome would depend on float noise).
    """
    out = []
    for i, row in enumerate(rows):
        t = top_two(row)
        if t.near_tie:
            raise NearTieError(
                f"test setup: {what} has a near-tie at greedy step {i} (tokens {t.best} and "
                f"{t.runner_up}, top-2 gap {t.gap:.2g} < {t.tie_gap:.2g}): on a GPU either may "
                "win, so this seed/prompt cannot test greedy equality. Choose another seed or "
                "prompt"
            )
        out.append(t)
    return out


def assert_clear_greedy(
    model: Any, prompt: Sequence[int], tokens: Sequence[int], *, what: str
) -> None:
    """Refuse a greedy run whose outcome could depend on float noise.

    One uncached pass of ``model`` over ``prompt + tokens`` gives the logits row every token
    was chosen from; :func:`greedy_margins` then demands a clear winner at every step.

    Raises:
        NearTieError: naming ``what``, the step and the gap.
    """
    if not tokens:
        return
    seq = list(prompt) + list(tokens)
    rows = model(mx.array(seq[:-1])[None])[0, len(prompt) - 1 :]
    greedy_margins([rows[i] for i in range(len(tokens))], what=what)


# --------------------------------------------------------------------------
# Greedy equality up to near-ties
# --------------------------------------------------------------------------


@dataclass
class TieReport:
    """The outcome of :func:`greedy_equal_or_tie`.

    Attributes:
        equal: the outputs are identical token for token.
        first_difference: index of the first differing token (None when equal).
        ties: positions where ``got`` took a near-tied token that is not the strict argmax
            of one full pass (accepted, reported).
        bad: positions where ``got``'s token is not a greedy choice even allowing ties, with
            its gap behind the argmax (a real bug).
        length_mismatch: the lengths differ with no near-tie to explain it (a real bug).
    """

    equal: bool
    first_difference: int | None = None
    ties: list[tuple[int, float]] = field(default_factory=list)
    bad: list[tuple[int, float]] = field(default_factory=list)
    length_mismatch: bool = False

    @property
    def ok(self) -> bool:
        """Lossless up to near-ties."""
        return self.equal or (not self.bad and not self.length_mismatch)

    def describe(self) -> str:
        """One line: what differed and why it is (not) acceptable."""
        if self.equal:
            return "identical to target-only greedy"
        ties = ", ".join(f"token {i} (gap {g:.2g})" for i, g in self.ties) or "none"
        if self.ok:
            return (
                f"differs from target-only greedy from token {self.first_difference}, only at "
                f"near-ties: {ties}"
            )
        if self.bad:
            i, g = self.bad[0]
            return (
                f"token {i} is not the target's greedy choice (it is {g:.3g} behind the argmax, "
                f"far above the near-tie gap); first difference at token {self.first_difference}, "
                f"near-ties: {ties}"
            )
        first = self.first_difference
        return f"lengths differ without a near-tie to explain it (first difference {first})"


def greedy_equal_or_tie(
    target: Any, prompt: Sequence[int], got: Sequence[int], expected: Sequence[int]
) -> TieReport:
    """Is ``got`` the target's greedy continuation of ``prompt``, up to near-ties?

    ``expected`` is the target-only greedy output. If ``got`` equals it, nothing runs.
    Otherwise one uncached pass of ``target`` over ``prompt + got`` checks every token of
    ``got``: each must be the argmax of its row or within :func:`near_tie_gap` of it (a
    near-tie, reported). After a tie the two outputs follow different contexts, so ``got``
    is checked against its own context, never against ``expected``.

    Args:
        target: an mlx-lm style model.
        prompt: the prompt's token ids.
        got: the decoder's output tokens.
        expected: the target-only greedy tokens for the same prompt and length.

    Returns:
        A :class:`TieReport`; ``report.ok`` is the verdict, ``report.describe()`` the reason.
    """
    got, expected = list(got), list(expected)
    if got == expected:
        return TieReport(equal=True)
    first = next(
        (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
        min(len(got), len(expected)),
    )
    report = TieReport(equal=False, first_difference=first)
    if got:
        seq = list(prompt) + got
        logits = target(mx.array(seq[:-1])[None])[0, len(prompt) - 1 :]
        values = np.asarray(logits.astype(mx.float32), dtype=np.float64)
        for i, token in enumerate(got):
            top = float(values[i].max())
            behind = top - float(values[i, token])
            if behind > near_tie_gap(top, logits.dtype):
                report.bad.append((i, behind))
            elif i == first and first < len(expected):
                report.ties.append((i, abs(float(values[i, token] - values[i, expected[i]]))))
            elif behind > 0:
                report.ties.append((i, behind))
    # Equal lengths are required unless a near-tie sent the outputs down different paths
    # (where one may meet EOS earlier).
    report.length_mismatch = len(got) != len(expected) and not report.ties
    return report


def assert_greedy_equal_or_tie(
    target: Any, prompt: Sequence[int], got: Sequence[int], expected: Sequence[int], *, what: str
) -> TieReport:
    """:func:`greedy_equal_or_tie`, failing with ``what`` and the report's reason."""
    report = greedy_equal_or_tie(target, prompt, got, expected)
    assert report.ok, f"{what}: {report.describe()}"
    return report
