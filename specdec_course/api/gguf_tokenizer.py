"""A Hugging Face tokenizer folder rebuilt from a GGUF file's metadata (GPT-2 style BPE).

A GGUF file carries its tokenizer as metadata: the vocabulary (``tokenizer.ggml.tokens``), the
BPE merges, each token's type (3 = control, i.e. special), the special ids and the chat template.
llama.cpp also names a *pre-tokenizer* (``tokenizer.ggml.pre``): how text is cut into pieces
before BPE merges inside each piece. SmolLM2's is ``smollm``: every digit on its own first, then
the GPT-2 split (contractions, letters, numbers, other symbols, whitespace runs). A tokenizer
that skips the digit step still encodes and decodes text, but into other ids than the model was
trained on (``"a  1"``: ``a``, ``  ``, ``1`` here; ``a``, `` ``, `` 1`` with the GPT-2 split
alone), so the step is rebuilt here with the ``tokenizers`` library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: llama.cpp's token type for control (special) tokens such as ``<|im_end|>``.
CONTROL_TOKEN = 3
#: Pre-tokenizers this module can rebuild: llama.cpp's name -> whether digits split first.
PRE_TOKENIZERS = {"smollm": True, "gpt2": False}


def _text(meta: dict[str, Any], key: str) -> str:
    if key not in meta:
        raise ValueError(f"the GGUF metadata has no {key!r}: not a GPT-2 style BPE tokenizer")
    return str(meta[key])


def _int(meta: dict[str, Any], key: str) -> int:
    value = meta[key]
    return int(value.item() if hasattr(value, "item") else value)


def build_tokenizer(meta: dict[str, Any]) -> Any:
    """A ``tokenizers.Tokenizer`` from GGUF metadata (``mx.load(..., return_metadata=True)``).

    Raises:
        ValueError: when the metadata is not a GPT-2 style BPE tokenizer with a known
            pre-tokenizer.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    if _text(meta, "tokenizer.ggml.model") != "gpt2":
        raise ValueError(f"tokenizer model {meta['tokenizer.ggml.model']!r} is not 'gpt2' (BPE)")
    pre = _text(meta, "tokenizer.ggml.pre")
    if pre not in PRE_TOKENIZERS:
        raise ValueError(f"pre-tokenizer {pre!r} is not one of {sorted(PRE_TOKENIZERS)}")
    tokens = list(meta["tokenizer.ggml.tokens"])
    # Byte-level tokens never hold a plain space (it is spelled "Ġ"), so one space separates
    # the two halves of a merge.
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False)
    tokenizer = Tokenizer(bpe)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if PRE_TOKENIZERS[pre]:
        # llama.cpp's first regex for `smollm` is \p{N}: each digit a piece of its own.
        digits = pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated")
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([digits, byte_level])
    else:
        tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    types = [int(t) for t in meta["tokenizer.ggml.token_type"].tolist()]
    specials = [t for t, kind in zip(tokens, types, strict=True) if kind == CONTROL_TOKEN]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tokenizer


def special_token(meta: dict[str, Any], role: str) -> str | None:
    """The token text of ``tokenizer.ggml.<role>_token_id`` (``"eos"``, ``"bos"``, ...), if any."""
    key = f"tokenizer.ggml.{role}_token_id"
    return meta["tokenizer.ggml.tokens"][_int(meta, key)] if key in meta else None


def write_tokenizer(meta: dict[str, Any], folder: Path, *, max_length: int) -> None:
    """Write ``tokenizer.json`` and ``tokenizer_config.json`` (with the chat template).

    ``transformers.AutoTokenizer`` (and so ``mlx_lm.load``) reads the pair back; the
    end-of-sequence token is the GGUF's ``eos_token_id`` (``<|im_end|>`` for SmolLM2's chat).
    """
    build_tokenizer(meta).save(str(folder / "tokenizer.json"))
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_length,
        "add_bos_token": False,
    }
    for role in ("bos", "eos", "unknown", "padding"):
        name = {"unknown": "unk_token", "padding": "pad_token"}.get(role, f"{role}_token")
        token = special_token(meta, role)
        if token is not None:
            config[name] = token
    if "tokenizer.chat_template" in meta:
        config["chat_template"] = str(meta["tokenizer.chat_template"])
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
