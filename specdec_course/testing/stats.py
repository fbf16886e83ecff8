"""Statistical checks that a sampler draws from the right distribution.

Speculative sampling is correct only if its output follows the target model's
distribution *exactly*; a test can only see samples. These helpers turn
"the counts look like the probabilities" into a test with a known, tiny
false-failure probability, and explain a failure in terms a student can act on
(which tokens came out too often or too rarely).

Typical use::

    counts = collections.Counter(tuple(sample()) for _ in range(20_000))
    assert_follows(counts, exact_sequence_distribution(P, last, 3), what="3-token continuations")
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Hashable

import numpy as np

__all__ = ["GofResult", "assert_follows", "binomial_bound", "chi_square_gof"]

#: How many badly fitting categories a failure message lists.
_WORST_SHOWN = 6


@dataclass(frozen=True)
class GofResult:
    """The outcome of :func:`chi_square_gof`.

    Attributes:
        statistic: Pearson's chi-square statistic over the (pooled) bins
            (``inf`` when an impossible category was observed).
        dof: degrees of freedom (bins - 1).
        p_value: probability that a correct sampler gives a statistic at least
            this large.
        passed: ``p_value >= false_failure``.
        samples: total number of samples counted.
        false_failure: the threshold used.
        message: a human-readable verdict listing the worst-fitting categories.
    """

    statistic: float
    dof: int
    p_value: float
    passed: bool
    samples: int
    false_failure: float
    message: str


def _as_dict(values: Mapping[Hashable, float] | np.ndarray | Any, name: str) -> dict[Hashable, float]:
    if isinstance(values, Mapping):
        return {key: float(v) for key, v in values.items()}
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a mapping or a 1-D array, got shape {array.shape}")
    return {i: float(v) for i, v in enumerate(array)}


def _fmt(key: Hashable) -> str:
    return repr(key) if not isinstance(key, str) else key


def chi_square_gof(
    counts: Mapping[Hashable, int] | np.ndarray,
    probs: Mapping[Hashable, float] | np.ndarray,
    *,
    false_failure: float = 1e-4,
    min_expected: float = 5.0,
    what: str = "samples",
) -> GofResult:
    """Pearson chi-square goodness-of-fit test of ``counts`` against ``probs``.

    Categories are any hashable keys (token ids, tuples of tokens, ...). Arrays
    stand for mappings from index to value: ``counts`` an int array ``(V,)``,
    ``probs`` a float array ``(V,)``. A category missing from ``probs`` has
    probability 0.

    * Any observed category with probability 0 fails at once (``p_value`` 0):
      the sampler produced something impossible.
    * Categories whose expected count is below ``min_expected`` are pooled into
      one bin (grown with the next-rarest categories until it too reaches
      ``min_expected``), because the chi-square approximation is poor for
      small expected counts.
    * The p-value is ``scipy.stats.chi2.sf(statistic, bins - 1)``.

    False failures: a sampler that really draws from ``probs`` fails with
    probability ``false_failure`` (1 in 10,000 by default). This is the
    test's nominal level; it is exact in the limit of many samples and close
    to it once every bin expects at least ``min_expected`` samples. Tests
    with fixed seeds are deterministic anyway: the level says how unlikely a
    correct implementation is to be the unlucky one.

    Args:
        counts: observed counts per category (non-negative integers).
        probs: expected probabilities per category; must sum to 1 (within 1e-6).
        false_failure: the test's level, in ``(0, 1)``.
        min_expected: the smallest expected count a bin may have.
        what: a name for the samples, used in the message.

    Returns:
        A :class:`GofResult`.

    Raises:
        ValueError: on no samples, negative counts or probabilities that do not
            sum to 1 (mistakes in the test, not in the sampler).
    """
    if not 0.0 < false_failure < 1.0:
        raise ValueError(f"false_failure must be in (0, 1), got {false_failure}")
    observed = _as_dict(counts, "counts")
    expected_p = _as_dict(probs, "probs")
    if any(v < 0 for v in observed.values()) or any(v < 0 for v in expected_p.values()):
        raise ValueError("counts and probabilities must be non-negative")
    total_p = sum(expected_p.values())
    if abs(total_p - 1.0) > 1e-6:
        raise ValueError(f"probabilities must sum to 1, they sum to {total_p!r}")
    n = int(round(sum(observed.values())))
    if n <= 0:
        raise ValueError("no samples were counted")

    impossible = {k: c for k, c in observed.items() if c > 0 and expected_p.get(k, 0.0) <= 0.0}
    if impossible:
        shown = sorted(impossible.items(), key=lambda kv: -kv[1])[:_WORST_SHOWN]
        listed = ", ".join(f"{_fmt(k)} ({int(c)} times)" for k, c in shown)
        more = f" and {len(impossible) - len(shown)} more" if len(impossible) > len(shown) else ""
        message = (
            f"FAILED: {what} include outcomes that have probability 0: {listed}{more}. "
            f"A correct sampler can never produce them ({n} samples in total)."
        )
        return GofResult(math.inf, 0, 0.0, False, n, false_failure, message)

    # Bins: (label, observed, expected).
    categories = [(k, observed.get(k, 0.0), n * p) for k, p in expected_p.items() if p > 0]
    categories.sort(key=lambda c: c[2])
    pooled: list[tuple[Hashable, float, float]] = []
    pool_e = 0.0
    # The pool depends only on expected counts, never on what was observed, so
    # the test keeps its level.
    while categories and (categories[0][2] < min_expected or 0.0 < pool_e < min_expected):
        pooled.append(categories.pop(0))
        pool_e += pooled[-1][2]
    bins = [(_fmt(k), o, e) for k, o, e in categories]
    if pooled:
        if len(pooled) == 1:
            k, o, e = pooled[0]
            bins.append((_fmt(k), o, e))
        else:
            label = f"<{len(pooled)} rare outcomes pooled>"
            bins.append((label, sum(o for _, o, _ in pooled), pool_e))
    dof = len(bins) - 1
    contributions = [(label, o, e, (o - e) ** 2 / e) for label, o, e in bins]
    statistic = float(sum(c[3] for c in contributions))
    # scipy is imported here, not at module level: scipy.stats costs about a second to
    # import, and every pytest process (the grader starts one per day) imports this module.
    from scipy.special import chdtrc

    p_value = float(chdtrc(dof, statistic)) if dof > 0 else 1.0
    passed = p_value >= false_failure

    worst = sorted(contributions, key=lambda c: -c[3])[:_WORST_SHOWN]
    lines = [
        f"  {label}: observed {int(round(o))}, expected {e:.1f} "
        f"({(o - e) / math.sqrt(e):+.1f} sd)"
        for label, o, e, _ in worst
    ]
    verdict = "passed" if passed else "FAILED"
    message = (
        f"{verdict}: {what} vs the expected distribution: chi-square {statistic:.1f} "
        f"with {dof} degrees of freedom, p-value {p_value:.3g} "
        f"(fails below {false_failure:g}; {n} samples, {len(bins)} bins).\n"
        + ("Worst-fitting outcomes:\n" if not passed else "Largest deviations:\n")
        + "\n".join(lines)
    )
    return GofResult(statistic, dof, p_value, passed, n, false_failure, message)


def binomial_bound(
    successes: int, trials: int, p: float, *, false_failure: float = 1e-4
) -> tuple[bool, str]:
    """Two-sided exact binomial test: is ``successes / trials`` consistent with ``p``?

    For rates such as the acceptance rate of draft tokens, whose true value a
    test can compute exactly (e.g. ``sum(min(p, q))``). A correct
    implementation fails with probability at most ``false_failure`` (the exact
    test is conservative).

    Args:
        successes: observed successes, ``0 <= successes <= trials``.
        trials: number of independent trials (> 0).
        p: the true success probability in ``[0, 1]``.
        false_failure: the test's level, in ``(0, 1)``.

    Returns:
        ``(passed, message)``; the message states the observed and expected
        rates and the p-value.
    """
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if p in (0.0, 1.0):
        # binomtest's p-value is degenerate here: anything but the certain
        # outcome is impossible.
        passed = successes == round(p * trials)
        p_value = 1.0 if passed else 0.0
    else:
        from scipy.stats import binomtest  # lazy: see chi_square_gof

        p_value = float(binomtest(successes, trials, p).pvalue)
        passed = p_value >= false_failure
    verdict = "passed" if passed else "FAILED"
    message = (
        f"{verdict}: observed rate {successes}/{trials} = {successes / trials:.4f}, "
        f"expected {p:.4f} (expected {p * trials:.1f} of {trials}); two-sided exact "
        f"binomial p-value {p_value:.3g} (fails below {false_failure:g})"
    )
    return passed, message


def assert_follows(
    counts: Mapping[Hashable, int] | np.ndarray,
    probs: Mapping[Hashable, float] | np.ndarray,
    *,
    what: str,
    false_failure: float = 1e-4,
    min_expected: float = 5.0,
) -> GofResult:
    """Assert that ``counts`` are a sample from ``probs`` (see :func:`chi_square_gof`).

    Args:
        counts: observed counts per category (mapping, or int array ``(V,)``).
        probs: probabilities per category (mapping, or float array ``(V,)``).
        what: what was sampled, for the message (e.g. ``"tokens at T=0.7"``).
        false_failure: probability that a correct sampler fails.
        min_expected: smallest expected count per bin.

    Returns:
        The :class:`GofResult` when the test passes.

    Raises:
        AssertionError: with the result's message when it fails.
    """
    result = chi_square_gof(
        counts, probs, false_failure=false_failure, min_expected=min_expected, what=what
    )
    if not result.passed:
        raise AssertionError(result.message)
    return result
