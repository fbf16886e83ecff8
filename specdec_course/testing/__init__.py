"""Test support: small exact models and statistics for testing speculative decoding.

Every model here follows the mlx-lm calling convention, so code written for a
real checkpoint cannot tell them apart from one::

    cache = mlx_lm.models.cache.make_prompt_cache(model)
    logits = model(tokens[None], cache=cache)   # tokens: int32 mx.array (L,)
    logits.shape == (1, L, vocab_size); logits.dtype == mx.float32
    cache[0].offset                             # tokens seen so far
    mlx_lm.models.cache.trim_prompt_cache(cache, n)   # forget the last n

Position semantics (the same for every model here): the token at index ``j``
of a call sits at absolute position ``offset + j``, where ``offset`` is
``cache[0].offset`` *before* the call (0 when ``cache`` is ``None``). The
logits at index ``j`` are the model's prediction for position ``offset + j + 1``,
i.e. for the token that comes *after* the one at index ``j``.

What is here:

* :func:`tiny_llama` / :func:`tiny_pair` - real ``mlx_lm`` Llama models with
  random weights (a few ten-thousand parameters, built in milliseconds).
* :class:`ScriptedModel` - a model whose greedy choice at every position is
  dictated by a script: force a mismatch exactly where a test wants one.
* :class:`MarkovModel` - a model whose next-token distribution depends only on
  the last token, so exact distributions of whole continuations are
  computable (:func:`exact_sequence_distribution`): the yardstick for
  "speculative sampling is lossless".
* :class:`CountingModel` - counts forward passes and tokens per pass.
* :func:`untrimmable` - a model whose caches cannot be trimmed.

Where they live: ``tiny`` (tiny_llama, tiny_pair), ``toy`` (ScriptedModel, MarkovModel, exact
distributions), ``wrappers`` (CountingModel, untrimmable), ``stats`` (goodness-of-fit) and
``baselines`` (comparison policies), ``ties`` (backend-robust tolerances and the near-tie
notion shared with the bench); the public names are re-exported here.
May import: ``core``, ``api``.
"""

import importlib
from typing import TYPE_CHECKING, Any

# Where each public name lives. The names are imported on first use (PEP 562), not here:
# ``tiny`` pulls in mlx-lm (and through it transformers), about two seconds, and a test file
# that needs only the statistics should not pay for it. Every pytest process the grader and
# the check start imports this package.
_HOME = {
    "GofResult": "stats",
    "assert_follows": "stats",
    "binomial_bound": "stats",
    "chi_square_gof": "stats",
    "NEAR_TIE_GAP": "ties",
    "NearTieError": "ties",
    "TieReport": "ties",
    "assert_clear_greedy": "ties",
    "assert_greedy_equal_or_tie": "ties",
    "greedy_equal_or_tie": "ties",
    "logit_atol": "ties",
    "near_tie_gap": "ties",
    "top2_gap": "ties",
    "tiny_llama": "tiny",
    "tiny_pair": "tiny",
    "LOG_ZERO": "toy",
    "MarkovModel": "toy",
    "ScriptedModel": "toy",
    "exact_next_distribution": "toy",
    "exact_sequence_distribution": "toy",
    "perturbed": "toy",
    "random_markov": "toy",
    "CountingModel": "wrappers",
    "untrimmable": "wrappers",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its home module on first use."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names too (they are not in the module's namespace before first use)."""
    return sorted({*globals(), *_HOME})


if TYPE_CHECKING:  # static checkers and IDEs see the real names
    from specdec_course.testing.stats import (
        GofResult,
        assert_follows,
        binomial_bound,
        chi_square_gof,
    )
    from specdec_course.testing.ties import (
        NEAR_TIE_GAP,
        NearTieError,
        TieReport,
        assert_clear_greedy,
        assert_greedy_equal_or_tie,
        greedy_equal_or_tie,
        logit_atol,
        near_tie_gap,
        top2_gap,
    )
    from specdec_course.testing.tiny import tiny_llama, tiny_pair
    from specdec_course.testing.toy import (
        LOG_ZERO,
        MarkovModel,
        ScriptedModel,
        exact_next_distribution,
        exact_sequence_distribution,
        perturbed,
        random_markov,
    )
    from specdec_course.testing.wrappers import CountingModel, untrimmable

__all__ = [
    "LOG_ZERO",
    "NEAR_TIE_GAP",
    "NearTieError",
    "TieReport",
    "assert_clear_greedy",
    "assert_greedy_equal_or_tie",
    "greedy_equal_or_tie",
    "logit_atol",
    "near_tie_gap",
    "top2_gap",
    "CountingModel",
    "GofResult",
    "MarkovModel",
    "ScriptedModel",
    "assert_follows",
    "binomial_bound",
    "chi_square_gof",
    "exact_next_distribution",
    "exact_sequence_distribution",
    "perturbed",
    "random_markov",
    "tiny_llama",
    "tiny_pair",
    "untrimmable",
]
