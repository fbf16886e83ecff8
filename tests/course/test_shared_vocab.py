"""Pairs whose embedding tables are padded to different sizes around one tokenizer.

Bug caught: the vocabulary check compared embedding widths, so a real pair sharing one tokenizer
(Qwen2.5-0.5B / 7B: 151,936 vs 152,064 rows) was refused; and the opposite bug, a relaxed check
that lets a pair with truly different tokenizers through, or forgets to slice the logits (the
decoder would then compare rows of different widths).
"""

import subprocess
import sys
import textwrap

import mlx.core as mx
import pytest
from mlx_lm.models.cache import make_prompt_cache

from specdec_course.api import models
from specdec_course.api.validation import check_same_vocab, shared_vocab_size
from specdec_course.core.impl import REPO_ROOT
from specdec_course.testing import tiny_llama

DRAFT_WIDTH, TARGET_WIDTH, TOKENIZER_IDS = 40, 48, 36


class SharedTokenizer:
    """A tokenizer of ``n`` ids (with one EOS), as far as the pairing checks look."""

    def __init__(self, n: int, eos: int = 1) -> None:
        self._vocab, self.eos_token_id = {f"t{i}": i for i in range(n)}, eos

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)

    def encode(self, text: str) -> list[int]:
        return [2 + ord(c) % 30 for c in text]


@pytest.fixture(scope="module")
def padded_pair():
    return tiny_llama(1, vocab_size=DRAFT_WIDTH), tiny_llama(0, vocab_size=TARGET_WIDTH)


def test_equal_widths_need_no_slicing():
    a, b = tiny_llama(0, vocab_size=32), tiny_llama(1, vocab_size=32)
    assert shared_vocab_size(a, b) == 32
    assert shared_vocab_size(a, b, SharedTokenizer(30)) == 32, "equal widths must not be sliced"


def test_padded_widths_share_the_tokenizers_size(padded_pair):
    draft, target = padded_pair
    assert shared_vocab_size(draft, target, SharedTokenizer(TOKENIZER_IDS)) == TOKENIZER_IDS


def test_padded_widths_without_a_tokenizer_are_refused_with_the_fix(padded_pair):
    with pytest.raises(ValueError, match="vocabularies differ in size") as info:
        check_same_vocab(*padded_pair)
    assert "load_pair" in str(info.value), "the message must name the fix (load_pair slices)"


def test_a_tokenizer_the_models_cannot_score_is_refused(padded_pair):
    # 45 ids do not fit a 40-wide draft: this is not the draft's tokenizer.
    with pytest.raises(ValueError, match="do not share this tokenizer"):
        shared_vocab_size(*padded_pair, SharedTokenizer(45))


def _fake_load(monkeypatch, pair, tokenizers):
    loaded = dict(zip(("draft", "target"), zip(pair, tokenizers, strict=True), strict=True))
    monkeypatch.setattr(models, "_load", lambda src: loaded[src])


def test_load_pair_slices_both_models_to_the_shared_tokenizer(monkeypatch, padded_pair):
    tok = SharedTokenizer(TOKENIZER_IDS)
    _fake_load(monkeypatch, padded_pair, (tok, tok))
    draft, target, tokenizer = models.load_pair("draft", "target", float32=False)
    assert tokenizer is tok
    check_same_vocab(draft, target)  # what every decoder's constructor calls
    tokens = mx.array([[3, 5, 7, 11]])
    for sliced, full in zip((draft, target), padded_pair, strict=True):
        logits = sliced(tokens)
        assert logits.shape == (1, 4, TOKENIZER_IDS), f"logits not sliced: {logits.shape}"
        assert mx.array_equal(logits, full(tokens)[..., :TOKENIZER_IDS]), "slicing changed logits"
        cache = make_prompt_cache(sliced)  # the cached path must work through the wrapper
        assert sliced(tokens, cache=cache).shape == (1, 4, TOKENIZER_IDS)
        assert cache[0].offset == 4


def test_load_pair_refuses_different_tokenizers_in_one_line(monkeypatch, padded_pair):
    _fake_load(monkeypatch, padded_pair, (SharedTokenizer(45), SharedTokenizer(45)))
    with pytest.raises(models.ModelPairError, match="do not share this tokenizer") as info:
        models.load_pair("draft", "target", float32=False)
    assert "\n" not in str(info.value)
    other = SharedTokenizer(TOKENIZER_IDS)
    other._vocab = {f"x{i}": i for i in range(TOKENIZER_IDS)}
    _fake_load(monkeypatch, padded_pair, (other, SharedTokenizer(TOKENIZER_IDS)))
    with pytest.raises(models.ModelPairError, match="vocabularies differ"):
        models.load_pair("draft", "target", float32=False)


def test_reference_decoder_is_lossless_on_a_sliced_pair():
    # In a child process: the reference decoder on a padded pair after load_pair's slicing
    # gives target-only greedy output token for token.
    code = textwrap.dedent(f"""
        from specdec_course.core.impl import activate
        activate("solutions")
        from specdec.baseline import autoregressive_generate
        from specdec.decoder import SpeculativeDecoder
        from specdec_course.api.models import VocabSlice
        from specdec_course.testing import tiny_llama
        n = {TOKENIZER_IDS}
        draft = VocabSlice(tiny_llama(1, vocab_size={DRAFT_WIDTH}), n)
        target = VocabSlice(tiny_llama(0, vocab_size={TARGET_WIDTH}), n)
        spec = SpeculativeDecoder(draft, target, 3).generate([3, 5, 7], 12).tokens
        base = autoregressive_generate(target, [3, 5, 7], 12).tokens
        assert spec == base, (spec, base)
        assert max(spec) < n
        print("ok")
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
