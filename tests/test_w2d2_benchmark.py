"""Week 2 Day 2 - measuring for real (book chapter week2-02-benchmark).

The metrics are pure arithmetic, so every expected value below is worked out
by hand in a comment; no model runs and no expected value comes from the code
under test.
"""

import dataclasses
import math

import numpy as np
import pytest

from specdec.metrics import BenchFigures, cost_ratios, derive_figures, estimate_alpha

pytestmark = pytest.mark.w2d2


def naive_rate(accepted, drafted):
    """accepted / drafted: the biased estimate the tests compare against."""
    return sum(accepted) / sum(drafted)


class TestEstimateAlpha:
    def test_hand_computed(self):
        # K = 4, five rounds accepting 4, 4, 1, 3, 0.
        # A = 4 + 4 + 1 + 3 + 0 = 12 accepted tokens.
        # R = rounds that ended in a rejection (accepted < 4): 1, 3, 0 -> 3.
        # alpha_hat = A / (A + R) = 12 / 15 = 0.8   (naive: 12 / 20 = 0.6)
        alpha = estimate_alpha([4, 4, 1, 3, 0], [4, 4, 4, 4, 4])
        assert alpha == pytest.approx(0.8, abs=1e-12), (
            f"got {alpha}; expected A / (A + R) = 12 / 15 = 0.8"
            + (" - you divided by the drafted tokens (accepted / drafted is biased low)"
               if alpha == pytest.approx(0.6) else "")
            + (" - you counted every round in R, but fully accepted rounds end without a rejection"
               if alpha == pytest.approx(12 / 17) else "")
        )
        assert type(alpha) is float, "return a Python float"

    def test_full_acceptance_every_round_is_one(self):
        # A = 9, R = 0 -> 9 / 9 = 1.
        alpha = estimate_alpha([3, 3, 3], [3, 3, 3])
        assert alpha == 1.0, (
            f"every draft token was accepted, so alpha_hat must be exactly 1, got {alpha}: a round that "
            "accepts all its drafts has no rejection and adds nothing to R"
        )

    def test_full_acceptance_with_varying_k_is_one(self):
        # An adaptive decoder changes K between rounds: 2 of 2, 1 of 1, 5 of 5 -> no rejection.
        assert estimate_alpha([2, 1, 5], [2, 1, 5]) == 1.0, (
            "a round is fully accepted when accepted == drafted for THAT round, whatever K the others used"
        )

    def test_varying_k(self):
        # 3 of 3 (no rejection), 1 of 2 (rejection), 0 of 1 (rejection):
        # A = 4, R = 2 -> 4 / 6 = 2/3.   (naive: 4 / 6 too, by coincidence - compare the next case)
        assert estimate_alpha([3, 1, 0], [3, 2, 1]) == pytest.approx(2 / 3, abs=1e-12), (
            "A = 4 accepted, R = 2 rejections (only the 1-of-2 and 0-of-1 rounds): 4 / 6 = 2/3; "
            "a round that accepted all its drafts adds nothing to R"
        )
        # 1 of 1, 1 of 4: A = 2, R = 1 -> 2 / 3.   (naive: 2 / 5 = 0.4)
        assert estimate_alpha([1, 1], [1, 4]) == pytest.approx(2 / 3, abs=1e-12), (
            "compare each round's accepted count with that round's own drafted count"
        )

    def test_every_first_token_rejected_is_zero(self):
        # A = 0, R = 3 -> 0 / 3 = 0.
        assert estimate_alpha([0, 0, 0], [4, 4, 4]) == 0.0, (
            "three rounds rejecting their first draft: A = 0, R = 3, so alpha_hat = 0 / 3 = 0.0 "
            "(not NaN: rejections are evidence)"
        )

    def test_nothing_drafted_is_nan(self):
        assert math.isnan(estimate_alpha([], [])), "no rounds at all: alpha is unknown, return NaN"
        alpha = estimate_alpha([0, 0, 0], [0, 0, 0])
        assert math.isnan(alpha), (
            f"K = 0 rounds draft nothing and say nothing about alpha: return NaN, got {alpha} "
            "(a round with 0 of 0 accepted is not a rejection)"
        )

    def test_rounds_without_drafts_are_ignored(self):
        # The K = 0 rounds (capped at max_tokens) add no evidence: A = 2, R = 1 -> 2 / 3.
        assert estimate_alpha([2, 0, 0], [4, 0, 0]) == pytest.approx(2 / 3, abs=1e-12), (
            "a round that drafted 0 tokens is neither an acceptance nor a rejection"
        )

    def test_accepts_tuples_and_numpy_ints(self):
        # The bench passes GenerationResult lists; other callers may pass tuples or numpy ints.
        alpha = estimate_alpha((np.int64(2), np.int64(0)), (np.int64(2), np.int64(3)))
        assert alpha == pytest.approx(2 / 3, abs=1e-12), (
            f"tuples of numpy ints (2 of 2, 0 of 3) must give A / (A + R) = 2 / 3 like lists, "
            f"got {alpha}"
        )
        assert type(alpha) is float, (
            f"return a Python float, got {type(alpha).__name__}: numpy ints give numpy results, "
            "convert with float()"
        )

    @pytest.mark.parametrize("accepted,drafted,why", [
        ([1, 2], [2], "lists of different lengths"),
        ([-1], [2], "a negative count"),
        ([1], [-2], "a negative count"),
        ([3], [2], "more accepted than drafted"),
    ])
    def test_bad_counts_are_a_value_error(self, accepted, drafted, why):
        with pytest.raises(ValueError):
            estimate_alpha(accepted, drafted)


class TestBias:
    def test_exact_frequencies_alpha_half(self):
        # With alpha = 0.5 and K = 2 a round accepts 0 tokens with probability 1/2,
        # 1 token with 1/4 and 2 tokens with 1/4. Four rounds in exactly those
        # proportions: accepted [0, 0, 1, 2] of 2 each.
        #   MLE:   A = 3, R = 3 (the rounds with 0, 0, 1) -> 3 / 6 = 0.5   (the true alpha)
        #   naive: 3 / 8 = 0.375 = (alpha - alpha^3) / ((1 - alpha) K)
        accepted, drafted = [0, 0, 1, 2], [2, 2, 2, 2]
        alpha = estimate_alpha(accepted, drafted)
        assert naive_rate(accepted, drafted) == 0.375, (
            "test setup: accepted [0, 0, 1, 2] of 2 each must give the naive rate 3 / 8"
        )
        assert alpha == pytest.approx(0.5, abs=1e-12), (
            f"got {alpha}; on rounds in exactly the proportions alpha = 0.5 produces, the estimate must "
            "recover 0.5" + (" - 0.375 is accepted / drafted, biased low because a round stops at its "
                             "first rejection" if alpha == pytest.approx(0.375) else "")
        )

    def test_simulated_rounds_recover_alpha_and_naive_does_not(self):
        # 20 000 rounds of K = 4 with per-token acceptance 0.8, simulated here with numpy.
        # Expected accepted per round: 0.8 + 0.8^2 + 0.8^3 + 0.8^4 = 2.3616, so the naive
        # rate tends to 2.3616 / 4 = 0.5904. alpha_hat sees ~59 000 Bernoulli trials:
        # std ~ sqrt(0.8 * 0.2 / 59 000) ~ 0.0017, so 0.01 is six standard deviations.
        rng = np.random.default_rng(2024)
        k, alpha_true, rounds = 4, 0.8, 20_000
        trials = rng.random((rounds, k)) < alpha_true
        accepted = np.where(trials.all(axis=1), k, np.argmin(trials, axis=1)).tolist()
        drafted = [k] * rounds
        naive = naive_rate(accepted, drafted)
        assert abs(naive - 0.5904) < 0.01, (  # the data really shows the bias
            f"test setup: the simulated rounds give accepted / drafted = {naive:.4f}, not about "
            "0.5904: the data does not show the bias"
        )
        alpha = estimate_alpha(accepted, drafted)
        assert abs(alpha - alpha_true) < 0.01, (
            f"alpha_hat = {alpha:.4f} on rounds simulated with alpha = 0.8; accepted/drafted gives "
            f"{naive:.4f}. Count the rejections (rounds with accepted < drafted), not the drafted tokens."
        )


class TestCostRatios:
    def test_hand_computed(self):
        # c = 5 ms / 20 ms = 0.25; v = 25 ms / 20 ms = 1.25
        c, v = cost_ratios(0.020, 0.005, 0.025)
        assert (c, v) == (pytest.approx(0.25, abs=1e-12), pytest.approx(1.25, abs=1e-12)), (
            f"got (c, v) = ({c}, {v}); expected (0.25, 1.25): both are divided by the TARGET step"
            + (" - the arguments are (target_step_s, draft_step_s, verify_s)" if c == pytest.approx(4.0) else "")
        )
        assert type(c) is float and type(v) is float, (
            f"return Python floats, got ({type(c).__name__}, {type(v).__name__})"
        )

    def test_memory_bound_verification_costs_one_step(self):
        # Verifying K + 1 tokens for the price of one: v = 12 ms / 12 ms = 1; c = 3 / 12 = 0.25.
        assert cost_ratios(0.012, 0.003, 0.012) == (pytest.approx(0.25), pytest.approx(1.0)), (
            "expected (c, v) = (3 / 12, 12 / 12) = (0.25, 1.0): divide both the draft step and "
            "the verify time by the target step"
        )

    @pytest.mark.parametrize("times", [
        (0.0, 0.005, 0.025), (0.020, 0.0, 0.025), (0.020, 0.005, 0.0), (-0.02, 0.005, 0.025),
        (0.020, -0.005, 0.025), (math.nan, 0.005, 0.025), (0.020, 0.005, math.inf),
    ])
    def test_non_positive_or_non_finite_times_are_a_value_error(self, times):
        with pytest.raises(ValueError):
            cost_ratios(*times)


# One configuration measured by hand (all figures worked out in the comments):
#   K = 4; speculative: 17 tokens in 0.25 s -> 68 tokens/s
#   target only: 17 tokens in 0.425 s -> 40 tokens/s; measured speedup 68 / 40 = 1.7
#   rounds accepted 4, 4, 1, 3, 0 of 4 -> alpha_hat = 12 / 15 = 0.8; mean accepted 12 / 5 = 2.4
#   target step 25 ms, draft step 5 ms, verify of 5 tokens 30 ms -> c = 0.2, v = 1.2
#   E(0.8, 4) = 1 + 0.8 + 0.64 + 0.512 + 0.4096 = 3.3616; cost 4 * 0.2 + 1.2 = 2.0
#   predicted S = 3.3616 / 2.0 = 1.6808; measured / predicted = 1.7 / 1.6808 = 1.0114231...
MEASURED = dict(spec_tokens=17, spec_seconds=0.25, base_tokens=17, base_seconds=0.425,
                accepted_per_round=[4, 4, 1, 3, 0], drafted_per_round=[4, 4, 4, 4, 4],
                target_step_s=0.025, draft_step_s=0.005, verify_s=0.030)


class TestDeriveFigures:
    def test_hand_computed_configuration(self):
        f = derive_figures(4, **MEASURED)
        assert isinstance(f, BenchFigures), f"return a BenchFigures, got {type(f).__name__}"
        expected = dict(k=4, spec_tokens_per_s=68.0, base_tokens_per_s=40.0, speedup=1.7, alpha=0.8,
                        mean_accepted=2.4, c=0.2, v=1.2, predicted_speedup=1.6808,
                        measured_over_predicted=1.7 / 1.6808)
        wrong = {name: (getattr(f, name), want) for name, want in expected.items()
                 if getattr(f, name) != pytest.approx(want, rel=1e-9)}
        hints = []
        if "alpha" in wrong and f.alpha == pytest.approx(0.6):
            hints.append("alpha is accepted / drafted: use estimate_alpha (A / (A + R))")
        if "predicted_speedup" in wrong and f.predicted_speedup == pytest.approx(3.3616 / 1.8):
            hints.append("the verification pass costs v = 1.2, not 1: use speedup(alpha, k, c, v)")
        if "speedup" in wrong and f.speedup == pytest.approx(1 / 1.7):
            hints.append("the speedup is speculative tokens/s over baseline tokens/s, not the inverse")
        if "mean_accepted" in wrong:
            hints.append("mean_accepted is the accepted DRAFT tokens per round: without the extra "
                         "(correction or bonus) token")
        assert not wrong, f"wrong figures (got, expected): {wrong}. {' '.join(hints)}"

    def test_result_is_frozen(self):
        f = derive_figures(4, **MEASURED)
        with pytest.raises(dataclasses.FrozenInstanceError):
            f.speedup = 99.0

    def test_k_zero_row_measures_the_decoders_overhead(self):
        # K = 0: the decoder is plain decoding through the verify path.
        # spec 10 tokens in 0.26 s -> 38.4615 tokens/s; base 10 in 0.25 s -> 40 tokens/s
        # speedup 38.4615 / 40 = 0.961538...; c = 5 / 25 = 0.2; v = 26 ms / 25 ms = 1.04
        # predicted S(., 0, c, v) = 1 / v = 0.961538...; measured / predicted = 1.0
        f = derive_figures(0, spec_tokens=10, spec_seconds=0.26, base_tokens=10, base_seconds=0.25,
                           accepted_per_round=[0] * 10, drafted_per_round=[0] * 10,
                           target_step_s=0.025, draft_step_s=0.005, verify_s=0.026)
        assert math.isnan(f.alpha), "nothing was drafted, so alpha is NaN"
        assert f.mean_accepted == 0.0, "ten rounds accepting nothing: mean accepted 0.0"
        assert f.predicted_speedup == pytest.approx(1 / 1.04, rel=1e-9), (
            f"K = 0 must still be predicted: S = E / (0 * c + v) = 1 / v = 0.9615, got {f.predicted_speedup} "
            "(alpha does not matter at K = 0; pass 0.0 to speedup)"
        )
        assert f.speedup == pytest.approx(10 / 0.26 / 40, rel=1e-9), (
            f"speedup {f.speedup}, expected spec tokens/s over base tokens/s = 38.46 / 40 = "
            "0.9615 (not the inverse, 1.04): K = 0 is slower than plain decoding"
        )
        assert f.measured_over_predicted == pytest.approx(1.0, rel=1e-9), (
            f"measured_over_predicted {f.measured_over_predicted}, expected 0.9615 / 0.9615 = 1.0: "
            "divide the measured speedup by the K = 0 prediction 1 / v"
        )

    def test_full_acceptance(self):
        # K = 3, two rounds of 3 of 3: alpha_hat = 1, E = K + 1 = 4.
        # c = 0.2, v = 30 / 25 = 1.2 -> predicted 4 / (3 * 0.2 + 1.2) = 4 / 1.8 = 2.2222...
        # speedup: 8 tokens in 0.1 s (80/s) vs 8 tokens in 0.2 s (40/s) = 2.0 -> ratio 2.0 / 2.2222 = 0.9
        f = derive_figures(3, spec_tokens=8, spec_seconds=0.1, base_tokens=8, base_seconds=0.2,
                           accepted_per_round=[3, 3], drafted_per_round=[3, 3],
                           target_step_s=0.025, draft_step_s=0.005, verify_s=0.030)
        assert f.alpha == 1.0, (
            f"alpha {f.alpha}, expected 1.0: two rounds of 3 of 3 have no rejection "
            "(use estimate_alpha)"
        )
        assert f.mean_accepted == 3.0, (
            f"mean_accepted {f.mean_accepted}, expected (3 + 3) / 2 rounds = 3.0: divide by the "
            "number of rounds"
        )
        assert f.predicted_speedup == pytest.approx(4 / 1.8, rel=1e-9), (
            f"predicted_speedup {f.predicted_speedup}, expected E(1, 3) / (3 * 0.2 + 1.2) = "
            "4 / 1.8: at alpha = 1, E = K + 1; use speedup(alpha, k, c, v)"
        )
        assert f.measured_over_predicted == pytest.approx(0.9, rel=1e-9), (
            f"measured_over_predicted {f.measured_over_predicted}, expected measured 2.0 / "
            "predicted 2.2222 = 0.9"
        )

    def test_k_positive_but_nothing_drafted_has_no_prediction(self):
        # One round capped to K = 0 at max_tokens: no alpha -> no prediction for K = 4.
        f = derive_figures(4, spec_tokens=1, spec_seconds=0.03, base_tokens=1, base_seconds=0.03,
                           accepted_per_round=[0], drafted_per_round=[0],
                           target_step_s=0.025, draft_step_s=0.005, verify_s=0.030)
        assert math.isnan(f.alpha) and math.isnan(f.predicted_speedup), (
            "with K > 0 and no draft tokens there is no alpha to predict from: NaN, not a made-up number"
        )
        assert math.isnan(f.measured_over_predicted), (
            f"measured_over_predicted is {f.measured_over_predicted}: without a prediction (NaN) "
            "the ratio is NaN too"
        )
        assert f.speedup == pytest.approx(1.0), (
            f"speedup {f.speedup}, expected 1 token in 0.03 s over 1 token in 0.03 s = 1.0: the "
            "measured speedup needs no alpha"
        )

    @pytest.mark.parametrize("field", ["spec_seconds", "base_seconds", "target_step_s", "draft_step_s",
                                       "verify_s"])
    @pytest.mark.parametrize("bad", [0.0, -0.5])
    def test_non_positive_times_are_a_value_error(self, field, bad):
        with pytest.raises(ValueError):
            derive_figures(4, **{**MEASURED, field: bad})

    @pytest.mark.parametrize("change", [
        dict(spec_tokens=-1), dict(base_tokens=-17), dict(spec_tokens=0), dict(base_tokens=0),
        dict(accepted_per_round=[4, -4, 1, 3, 0]), dict(drafted_per_round=[4, 4, 4, 4]),
        dict(accepted_per_round=[5, 4, 1, 3, 0]),
    ])
    def test_bad_counts_are_a_value_error(self, change):
        with pytest.raises(ValueError):
            derive_figures(4, **{**MEASURED, **change})

    def test_negative_k_is_a_value_error(self):
        with pytest.raises(ValueError):
            derive_figures(-1, **MEASURED)


class TestEveryBadArgument:
    """Every rejected value of every argument of derive_figures / cost_ratios / estimate_alpha."""

    SECONDS = ["spec_seconds", "base_seconds", "target_step_s", "draft_step_s", "verify_s"]
    BAD_SECONDS = [0.0, -0.5, math.nan, math.inf, -math.inf, "0.2", None, True]
    COUNTS = ["spec_tokens", "base_tokens"]
    BAD_COUNTS = [-1, 0, 2.5, "17", None, True, math.nan]

    @pytest.mark.parametrize("field", SECONDS)
    @pytest.mark.parametrize("bad", BAD_SECONDS, ids=repr)
    def test_times(self, field, bad):
        with pytest.raises((TypeError, ValueError)):
            derive_figures(4, **{**MEASURED, field: bad})

    @pytest.mark.parametrize("position", [0, 1, 2])
    @pytest.mark.parametrize("bad", BAD_SECONDS, ids=repr)
    def test_cost_ratio_times(self, position, bad):
        times = [0.025, 0.005, 0.03]
        times[position] = bad
        with pytest.raises((TypeError, ValueError)):
            cost_ratios(*times)

    @pytest.mark.parametrize("field", COUNTS)
    @pytest.mark.parametrize("bad", BAD_COUNTS, ids=repr)
    def test_token_counts(self, field, bad):
        with pytest.raises((TypeError, ValueError)):
            derive_figures(4, **{**MEASURED, field: bad})

    @pytest.mark.parametrize("k", [-1, 2.5, "4", None, True], ids=repr)
    def test_k(self, k):
        with pytest.raises((TypeError, ValueError)):
            derive_figures(k, **MEASURED)

    @pytest.mark.parametrize("accepted,drafted", [
        ([4, 4, 1, 3, 0], [4, 4, 4, 4]),          # lengths differ
        ([4, 4, 1, 3, 5], [4, 4, 4, 4, 4]),       # more accepted than drafted
        ([4, 4, 1, 3, -1], [4, 4, 4, 4, 4]),      # negative
        ([4, 4, 1.5, 3, 0], [4, 4, 4, 4, 4]),     # not an int
        ([4, 4, 1, 3, 0], [4, 4, 4, 4, None]),    # not an int
    ], ids=["lengths", "a>d", "negative", "float", "None"])
    def test_round_counts(self, accepted, drafted):
        with pytest.raises((TypeError, ValueError)):
            estimate_alpha(accepted, drafted)
        with pytest.raises((TypeError, ValueError)):
            derive_figures(4, **{**MEASURED, "accepted_per_round": accepted, "drafted_per_round": drafted})
