"""Model and training configurations of the bundled pair."""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
from mlx_lm.models.llama import ModelArgs

from specdec_course.api.models import DRAFT_NAME, TARGET_NAME  # noqa: F401 (re-exported)
from specdec_course.core.paths import PROMPTS_PATH

DEFAULT_PROMPTS_PATH = PROMPTS_PATH
EOS_TOKEN = "<|endoftext|>"
# Stored in bfloat16 to halve the checkout size; specdec_course.api.models upcasts
# to float32 at load time because half precision is 2-5x slower on MLX's CPU
# backend (measured: 6x384 target 8.5 ms/token in fp32 vs 15.6 in bf16).
SAVE_DTYPE = mx.bfloat16


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


@dataclass
class ModelSpec:
    """Shape of one llama model (maps 1:1 onto mlx-lm ``ModelArgs``)."""

    layers: int
    hidden: int
    heads: int
    ffn: int


@dataclass
class TrainSpec:
    """Optimisation settings for one training phase."""

    steps: int
    batch: int
    seq_len: int
    lr: float
    warmup: int
    weight_decay: float = 0.1


FULL = {
    "vocab": 2048,
    "target": ModelSpec(layers=12, hidden=384, heads=6, ffn=1024),
    "draft": ModelSpec(layers=1, hidden=256, heads=4, ffn=768),
    "target_train": TrainSpec(steps=500, batch=8, seq_len=256, lr=1.5e-3, warmup=40),
    "draft_train": TrainSpec(steps=250, batch=16, seq_len=256, lr=3e-3, warmup=20),
    "gen_sequences": 256,
    "gen_tokens": 192,
    "tokenizer_files": 10_000,
}

QUICK = {
    "vocab": 512,
    "target": ModelSpec(layers=2, hidden=64, heads=2, ffn=128),
    "draft": ModelSpec(layers=1, hidden=32, heads=1, ffn=64),
    "target_train": TrainSpec(steps=10, batch=4, seq_len=64, lr=3e-3, warmup=2),
    "draft_train": TrainSpec(steps=10, batch=4, seq_len=64, lr=3e-3, warmup=2),
    "gen_sequences": 8,
    "gen_tokens": 32,
    "tokenizer_files": 40,
}


def model_args(spec: ModelSpec, vocab: int, max_pos: int) -> ModelArgs:
    """Build mlx-lm ``ModelArgs`` for a llama of the given shape."""
    return ModelArgs(
        model_type="llama",
        hidden_size=spec.hidden,
        num_hidden_layers=spec.layers,
        intermediate_size=spec.ffn,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        rms_norm_eps=1e-5,
        vocab_size=vocab,
        max_position_embeddings=max_pos,
        rope_theta=10000.0,
        tie_word_embeddings=True,
    )


# --------------------------------------------------------------------------
