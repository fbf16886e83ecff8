"""The speed-bar report of `python -m specdec_course.bench.mlxlm_speed` (no timing here)."""

from __future__ import annotations

from specdec_course.bench import mlxlm_speed as S
from specdec_course.core.cmdline import without_options


def _report(mismatches: int = 0) -> S.SpeedReport:
    rows = [S.KResult(k=k, seconds=1.0, tokens=128, tokens_per_s=128.0, speedup=s, speedup_low=s - 0.2,
                      speedup_high=s + 0.2, alpha=0.7, mean_accepted=1.5, verify_ratio=1.2,
                      predicted_iid=1.6, predicted_measured=1.7, mismatches=mismatches)
            for k, s in ((1, 1.2), (2, 1.6), (3, 1.4))]
    return S.SpeedReport(blas="reference BLAS (slow)", machine="x86_64 Linux", n_prompts=4, max_tokens=128,
                         repeats=3, draft_ms=0.5, target_ms=10.0, c=0.05, baseline_tokens_per_s=100.0,
                         results=rows, command="uv run python -m specdec_course.bench.mlxlm_speed --repeats 3")


def test_best_is_the_highest_median_speedup():
    assert _report().best.k == 2


def test_card_section_states_how_to_reproduce_and_the_spread():
    text = S.card_section(_report())
    assert "`SPECDEC_NO_OPENBLAS=1 uv run python -m specdec_course.bench.mlxlm_speed --repeats 3`" in text, (
        "a figure taken without OpenBLAS must say how to repeat it (environment and options)")
    assert "| 2 | 0.700 | 1.50 | 1.20x | 128.0 | 1.60x | 1.40-1.80x |" in text
    assert "ran 3 times" in text and "identical to plain greedy decoding." in text
    assert "except 6 tokens" in S.card_section(_report(mismatches=2)), "differing tokens must be reported"


def test_reproducible_args_drop_output_options():
    args = ["--repeats", "5", "--update-cards", "--json", "/tmp/x.json"]
    assert without_options(args, valued=["--json"], flags=["--update-cards"]) == ["--repeats", "5"]
