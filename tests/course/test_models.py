"""Loading the bundled draft/target pair and refusing incompatible pairs."""

from __future__ import annotations

import json
import shutil

import mlx.core as mx
import pytest

from specdec_course.api import models


class FakeTokenizer:
    """Just enough of a tokenizer for check_compatible."""

    def __init__(self, vocab: dict[str, int], eos: int) -> None:
        self._vocab, self.eos_token_id = vocab, eos

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)


@pytest.fixture(scope="module")
def bundled_pair():
    return models.load_pair()


@pytest.fixture
def swapped_draft(tmp_path):
    """A copy of the bundled draft whose tokenizer swaps the ids of two tokens."""
    dst = tmp_path / "draft-swapped"
    shutil.copytree(models.bundled_model_path(models.DRAFT_NAME), dst)
    tok = json.loads((dst / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    a, b = sorted(vocab, key=vocab.get)[100:102]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (dst / "tokenizer.json").write_text(json.dumps(tok))
    return dst


def test_bundled_paths_exist():
    for name in (models.DRAFT_NAME, models.TARGET_NAME):
        path = models.bundled_model_path(name)
        assert (path / "model.safetensors").is_file()
        assert json.loads((path / "config.json").read_text())["model_type"] == "llama"


def test_missing_bundled_model_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)
    with pytest.raises(ValueError, match="specdec train-models"):
        models.bundled_model_path(models.TARGET_NAME)
    with pytest.raises(ValueError, match="not found"):
        models.load_pair()


def test_load_pair_returns_compatible_float32_models(bundled_pair):
    draft, target, tokenizer = bundled_pair
    assert len(draft.layers) < len(target.layers)
    assert draft.args.vocab_size == target.args.vocab_size
    ids = tokenizer.encode("def f(x):\n    return x\n")
    for m in (draft, target):
        logits = m(mx.array([ids]))
        assert logits.dtype == mx.float32
        assert logits.shape == (1, len(ids), target.args.vocab_size)
    assert tokenizer.eos_token_id is not None


def test_tokenizer_round_trips_code(bundled_pair):
    _, _, tokenizer = bundled_pair
    code = "class A:\n    def f(self):\n\t\treturn {'a': [1, 2]}  # x\n\n\n"
    assert tokenizer.decode(tokenizer.encode(code)) == code


def test_check_compatible_accepts_identical():
    tok = FakeTokenizer({"a": 0, "b": 1}, eos=1)
    models.check_compatible(tok, FakeTokenizer({"a": 0, "b": 1}, eos=1))


def test_check_compatible_rejects_vocab_mismatch():
    with pytest.raises(ValueError, match="vocabularies differ"):
        models.check_compatible(FakeTokenizer({"a": 0, "b": 1}, 1), FakeTokenizer({"a": 1, "b": 0}, 1))


def test_check_compatible_rejects_eos_mismatch():
    with pytest.raises(ValueError, match="EOS ids differ"):
        models.check_compatible(FakeTokenizer({"a": 0, "b": 1}, 0), FakeTokenizer({"a": 0, "b": 1}, 1))


def test_load_pair_refuses_mismatched_tokenizers(swapped_draft):
    with pytest.raises(ValueError, match="cannot be paired") as info:
        models.load_pair(draft=str(swapped_draft))
    assert "share one tokenizer" in str(info.value)
    assert isinstance(info.value, models.ModelPairError)


def test_load_pair_unloadable_path_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="could not load model"):
        models.load_pair(draft=str(tmp_path / "nope"), target=str(tmp_path / "nope"))


def test_model_cards_match_the_training_report():
    """The committed cards state the figures in models/training_report.json."""
    report = json.loads((models.MODELS_DIR / "training_report.json").read_text())
    for name, role in ((models.TARGET_NAME, "target"), (models.DRAFT_NAME, "draft")):
        card = (models.MODELS_DIR / name / "README.md").read_text()
        assert f"{report[role + '_params']:,}" in card, f"{name}'s card does not state its parameter count"
        assert f"{report[role]['heldout']:.3f}" in card, f"{name}'s card does not state its held-out loss"
        assert f"{report['total_minutes']:.1f} min" in card, f"{name}'s card does not state the training time"
        assert report["command"] in card, f"{name}'s card does not give the training command"
    assert report["total_minutes"] <= 60, "training must fit the 60-minute budget of issue 3"
    weights_mb = sum((models.MODELS_DIR / n / "model.safetensors").stat().st_size
                     for n in (models.TARGET_NAME, models.DRAFT_NAME)) / 1e6
    assert weights_mb <= 60, f"bundled weights take {weights_mb:.1f} MB; the budget is 60 MB"


def test_training_command_omits_output_locations():
    from specdec_course.core.cmdline import without_options

    args = ["--out", "/tmp/x", "--seed", "1", "--prompts-out=/tmp/p.json"]
    assert without_options(args, valued=["--out", "--prompts-out"]) == ["--seed", "1"]
