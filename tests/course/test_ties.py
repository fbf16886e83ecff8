"""The backend-robust tolerances and the shared near-tie notion (specdec_course.testing.ties).

No GPU runs here: GPU rounding is imitated by adding noise of the size measured on MLX's CUDA
backend (~2e-3 between cached steps and one full pass of the tiny float32 models) to every
call's logits, different for every call, as a different call shape gives on a GPU.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from specdec_course.testing import tiny_llama, tiny_pair
from specdec_course.testing.ties import (
    NearTieError,
    assert_clear_greedy,
    compute_eps,
    greedy_equal_or_tie,
    logit_atol,
    near_tie_gap,
    top2,
)
from tests.w1_helpers import mlx_lm_greedy

GPU_NOISE = 2e-3  # measured on CUDA (issue 11)


class Noisy:
    """A model whose logits carry fresh Gaussian noise of std ``sigma`` at every call."""

    def __init__(self, model, sigma: float = GPU_NOISE, seed: int = 0):
        self.model, self.layers, self.sigma = model, model.layers, sigma
        self.rng = np.random.default_rng(seed)

    def __call__(self, tokens, cache=None):
        logits = self.model(tokens, cache=cache)
        noise = self.rng.normal(0.0, self.sigma, logits.shape).astype(np.float32)
        return logits + mx.array(noise)

    def make_cache(self):
        from mlx_lm.models.cache import make_prompt_cache

        return make_prompt_cache(self.model)


def test_compute_eps_covers_tensor_cores_and_half_precision():
    assert compute_eps(mx.float32) == 2.0**-10  # TF32 matmuls on GPUs
    assert compute_eps(mx.bfloat16) == 2.0**-7
    assert near_tie_gap(8.0, mx.bfloat16) > near_tie_gap(8.0, mx.float32) > 10 * GPU_NOISE


def test_logit_atol_holds_under_gpu_noise_and_still_catches_a_shifted_row():
    model = tiny_llama(0)
    tokens = mx.array([4, 8, 15, 16, 23, 42])[None]
    full = np.array(model(tokens)[0])
    atol = logit_atol(full)
    rng = np.random.default_rng(1)
    # 5 sigma of the measured GPU noise stays inside the tolerance ...
    assert np.max(np.abs(rng.normal(0, GPU_NOISE, full.shape))) < atol
    assert 5 * GPU_NOISE < atol
    # ... while the classic bugs are far outside it: logits of the neighbouring position,
    # logits divided by a temperature of 2, or probabilities instead of logits.
    for wrong in (
        full[1:] - full[:-1],
        full / 2 - full,
        np.array(mx.softmax(mx.array(full), -1)) - full,
    ):
        assert np.max(np.abs(wrong)) > 10 * atol
    # Masked entries (LOG_ZERO) do not inflate the tolerance: it follows the row maxima.
    masked = full.copy()
    masked[:, :10] = -1.0e4
    assert logit_atol(masked) == pytest.approx(atol)


def test_bfloat16_rounding_is_inside_the_bfloat16_tolerance():
    full = tiny_llama(0)(mx.array([1, 2, 3])[None])[0]
    rounded = full.astype(mx.bfloat16).astype(mx.float32)
    assert float(mx.abs(rounded - full).max()) < logit_atol(full, dtype=mx.bfloat16)


def test_a_near_tie_seed_is_refused_not_gambled_on():
    # tiny_pair(1) after [3] is the GPU failure: near-ties at greedy steps 10 and 13.
    _, target = tiny_pair(1)
    with pytest.raises(NearTieError, match="near-tie at greedy step 10"):
        mlx_lm_greedy(target, [3], 30)
    tokens = mlx_lm_greedy(target, [3], 30, clear_margin=False)
    assert top2(target, [3] + tokens[:13]).gap < GPU_NOISE  # the flip the GPU showed


@pytest.mark.parametrize("seed,prompt", [(0, [3]), (4, [5, 9, 2]), (1, list(range(11, 28)))])
def test_margin_checked_greedy_survives_gpu_noise(seed, prompt):
    _, target = tiny_pair(seed)
    want = mlx_lm_greedy(target, prompt, 30)  # margin-checked
    for noise_seed in range(3):
        noisy = mlx_lm_greedy(
            Noisy(target, 3 * GPU_NOISE, noise_seed), prompt, 30, clear_margin=False
        )
        assert noisy == want


def test_greedy_equal_or_tie_accepts_only_named_near_ties():
    _, target = tiny_pair(1)
    prompt = [3]
    want = mlx_lm_greedy(target, prompt, 20, clear_margin=False)
    assert greedy_equal_or_tie(target, prompt, want, want).equal
    # A GPU that picked the runner-up at the near-tie (step 13), then continued greedily.
    t = top2(target, prompt + want[:13])
    assert t.near_tie
    flipped = want[:13] + [t.runner_up]
    flipped += mlx_lm_greedy(target, prompt + flipped, 20 - len(flipped), clear_margin=False)
    report = greedy_equal_or_tie(target, prompt, flipped, want)
    assert report.ok and report.first_difference == 13 and [i for i, _ in report.ties] == [13]
    assert "near-ties: token 13" in report.describe()
    # A real bug: a token that is not the argmax by a clear margin (step 5 has no tie).
    clear = top2(target, prompt + want[:5])
    assert not clear.near_tie
    wrong = want[:5] + [clear.runner_up] + want[6:]
    report = greedy_equal_or_tie(target, prompt, wrong, want)
    assert not report.ok and report.bad[0][0] == 5
    assert "not the target's greedy choice" in report.describe()
    # A missing token is not excused either.
    assert not greedy_equal_or_tie(target, prompt, want[:-1], want).ok


def test_greedy_equal_or_tie_passes_every_noisy_run_of_a_correct_decoder():
    # Greedy decoding with GPU-sized noise on the near-tie seed: whatever the noise flips,
    # the check accepts it (a correct decoder never sees red), and it did flip at least once.
    _, target = tiny_pair(1)
    prompt = [3]
    want = mlx_lm_greedy(target, prompt, 20, clear_margin=False)
    flips = 0
    for noise_seed in range(6):
        got = mlx_lm_greedy(Noisy(target, GPU_NOISE, noise_seed), prompt, 20, clear_margin=False)
        report = greedy_equal_or_tie(target, prompt, got, want)
        assert report.ok, report.describe()
        flips += not report.equal
    assert flips > 0, (
        "the noise never flipped the near-tie: the test does not exercise the tie path"
    )


def test_assert_clear_greedy_names_the_step():
    _, target = tiny_pair(1)
    tokens = mlx_lm_greedy(target, [3], 12, clear_margin=False)
    assert_clear_greedy(target, [3], tokens[:10], what="ok part")
    with pytest.raises(NearTieError, match="my model"):
        assert_clear_greedy(target, [3], tokens, what="my model")


def test_the_bench_uses_the_same_near_tie_notion():
    from specdec_course.bench.sweep import Mismatch

    _, target = tiny_pair(1)
    want = mlx_lm_greedy(target, [3], 20, clear_margin=False)
    tie = Mismatch("K=3", 0, 0, 13, want[13], None)
    tie.diagnose(target, [3] + want[:13])
    clear = Mismatch("K=3", 0, 0, 5, want[5], None)
    clear.diagnose(target, [3] + want[:5])
    assert tie.near_tie and "a float near-tie" in tie.describe()
    assert not clear.near_tie and "not a near-tie" in clear.describe()
    assert tie.tie_gap == pytest.approx(top2(target, [3] + want[:13]).tie_gap)
    assert not Mismatch("K=3", 0, 0, 5, 1, 2).near_tie, "an undiagnosed mismatch is never excused"
