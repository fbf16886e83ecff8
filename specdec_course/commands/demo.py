"""``specdec walkthrough`` and ``specdec demo``: speculative decoding you can watch.

Both run the implementation chosen with ``--impl`` (the student's ``src`` by
default). An unwritten task is reported as a message naming the task, not as
a traceback.
"""

from __future__ import annotations

import time
from typing import Any

import mlx.core as mx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from specdec_course.core.blas import blas_name, mlx_device
from specdec_course.core.impl import requested_impl
from specdec_course.core.paths import SMOLLM2_NAMES
from specdec_course.core.unwritten import TaskNotWritten, friendly_stubs, report_unwritten

DEFAULT_PROMPT = "class Stack:\n    def __init__(self):\n        "
# Chosen (from the held-out files) so that one greedy step at K = 4 on the bundled pair shows
# all three outcomes: "None" and "," accepted, the third draft rejected, the target's correction.
WALKTHROUGH_PROMPT = "def encode(self, input, final="


def _piece(tokenizer: Any, token: int) -> str:
    # Make whitespace visible: code tokens are often just spaces or newlines.
    return tokenizer.decode([token]).replace(" ", "·").replace("\n", "↵").replace("\t", "→")


def walkthrough(console: Console, *, prompt: str, lookahead: int, draft: str | None, target: str | None,
                impl: str | None) -> int:
    """Show one speculative step position by position."""
    from specdec_course.api.models import load_pair
    from specdec_course.core.impl import activate

    if draft is None and target in SMOLLM2_NAMES:  # no offline draft: a prompt-lookup round
        from specdec_course.commands.demo_lookup import lookup_walkthrough

        own = None if prompt == WALKTHROUGH_PROMPT else prompt
        return lookup_walkthrough(console, prompt=own, lookahead=lookahead, target=target,
                                  impl=impl)

    impl = requested_impl(impl)
    activate(impl)
    from specdec.decoder import SpeculativeDecoder
    from specdec.verify import verify_speculation

    draft_model, target_model, tokenizer = load_pair(draft, target)
    prompt_ids = tokenizer.encode(prompt)
    try:
        with friendly_stubs():
            decoder = SpeculativeDecoder(draft_model, target_model, lookahead)
            drafts = decoder.draft_generation(mx.array(prompt_ids), lookahead)
            # One target pass scores the last prompt token and every draft token.
            target_logits = target_model(mx.array(prompt_ids + drafts)[None])[0, len(prompt_ids) - 1:]
            n, emitted = verify_speculation(drafts, target_logits, decoder.draft_logits)
    except TaskNotWritten as err:
        return report_unwritten(console, err, impl)

    choices = mx.argmax(target_logits, axis=-1).tolist()
    console.print(Text("prompt: ", style="bold") + Text(prompt))
    table = Table(title=f"one speculative step, K = {lookahead} ({impl}, MLX {mlx_device()})")
    for col in ("position", "draft proposes", "target's choice", "verdict", "emitted"):
        table.add_column(col)
    for i in range(lookahead + 1):
        draft_cell = _piece(tokenizer, drafts[i]) if i < lookahead else "-"
        if i < n:
            verdict, emit = "[green]accepted[/green]", _piece(tokenizer, drafts[i])
        elif i == n and i < lookahead:
            verdict, emit = "[red]rejected[/red]", _piece(tokenizer, emitted[-1])
        elif i == n:
            verdict, emit = "[cyan]bonus[/cyan] (all accepted)", _piece(tokenizer, emitted[-1])
        else:
            verdict, emit = "[dim]discarded[/dim]", ""
        table.add_row(str(len(prompt_ids) + i), draft_cell, _piece(tokenizer, choices[i]), verdict, emit)
    console.print(table)
    console.print("[dim]· is a space, ↵ a newline; a rejected row emits the target's token instead; "
                  "discarded rows were scored after a rejected token and are thrown away[/dim]")
    console.print(f"emitted {len(emitted)} tokens ({n} accepted draft tokens + 1 from the target) for "
                  f"[bold]1 target call[/bold] and {lookahead} draft steps; target-only decoding would "
                  f"have needed {len(emitted)} target calls.")
    return 0


def preflight(console: Console, impl: str | None) -> int | None:
    """Run the chosen decoder once on a tiny in-memory model before any slow step.

    An unwritten task is then reported (exit status 1) before the OpenBLAS re-exec and before
    the real models load. Returns None when the decoder and the baseline both run.
    """
    from specdec_course.core.impl import activate
    from specdec_course.testing import tiny_llama

    impl = requested_impl(impl)
    activate(impl)
    from specdec.baseline import autoregressive_generate
    from specdec.decoder import SpeculativeDecoder

    model = tiny_llama(0, vocab_size=16, hidden_size=16, num_layers=1, intermediate_size=16,
                       num_heads=2, num_kv_heads=1)
    try:
        with friendly_stubs():
            autoregressive_generate(model, [1], 2)
            SpeculativeDecoder(model, model, 2).generate([1], 3)
    except TaskNotWritten as err:
        return report_unwritten(console, err, impl)
    return None


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def demo(console: Console, *, prompt: str, lookahead: int, max_tokens: int, temperature: float,
         draft: str | None, target: str | None, impl: str | None, seed: int = 0) -> int:
    """Generate with speculative decoding, highlight draft tokens, compare with target-only."""
    from specdec_course.api.models import load_pair
    from specdec_course.core.impl import activate

    if draft is None and target in SMOLLM2_NAMES:  # no offline draft: prompt lookup drafts
        from specdec_course.commands.demo_lookup import lookup_demo

        return lookup_demo(console, prompt=None if prompt == DEFAULT_PROMPT else prompt,
                           lookahead=lookahead, max_tokens=max_tokens, target=target, impl=impl)

    impl = requested_impl(impl)
    activate(impl)
    from specdec.baseline import autoregressive_generate
    from specdec.decoder import SpeculativeDecoder

    with console.status("loading models"):
        draft_model, target_model, tokenizer = load_pair(draft, target)
    prompt_ids = tokenizer.encode(prompt)
    eos = set(tokenizer.eos_token_ids)
    try:
        with friendly_stubs():
            decoder = SpeculativeDecoder(draft_model, target_model, lookahead, temperature=temperature,
                                         eos_token_id=eos)
            with console.status("warming up"):
                decoder.generate(prompt_ids, 8, key=mx.random.key(seed))
                autoregressive_generate(target_model, prompt_ids, 8, temperature=temperature,
                                        key=mx.random.key(seed))
            with console.status("target-only decoding"):
                base, base_s = _timed(lambda: autoregressive_generate(
                    target_model, prompt_ids, max_tokens, temperature=temperature, eos_token_id=eos,
                    key=mx.random.key(seed)))
            with console.status("speculative decoding"):
                spec, spec_s = _timed(lambda: decoder.generate(prompt_ids, max_tokens, key=mx.random.key(seed)))
    except TaskNotWritten as err:
        return report_unwritten(console, err, impl)

    text = Text(prompt, style="bold")
    pos = 0
    for accepted in spec.accepted_per_round or [0] * len(spec.tokens):
        for j in range(accepted + 1):
            if pos < len(spec.tokens):
                style = "green" if j < accepted else ""
                text.append(tokenizer.decode([spec.tokens[pos]]), style=style)
                pos += 1
    for token in spec.tokens[pos:]:
        text.append(tokenizer.decode([token]))
    console.rule(f"speculative decoding, K = {lookahead}, T = {temperature} "
                 f"({impl}, MLX {mlx_device()})")
    console.print(text)
    console.print("[green]green[/green] = draft tokens the target accepted; plain = tokens from the target")

    table = Table(title="speculative vs target-only, same prompt, same process")
    # Short headers (legend below) so the table fits an 80-column terminal.
    for col in ("", "tokens", "seconds", "tokens/s", "target", "draft", "acc/drafted"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_row("target-only", str(len(base.tokens)), f"{base_s:.2f}", f"{len(base.tokens) / base_s:.1f}",
                  str(base.target_calls), "0", "-")
    table.add_row("speculative", str(len(spec.tokens)), f"{spec_s:.2f}", f"{len(spec.tokens) / spec_s:.1f}",
                  str(spec.target_calls), str(spec.draft_calls), f"{spec.acceptance_rate:.2f}")
    console.print(table)
    # Not "α": accepted / drafted also counts the never-examined drafts after a rejection,
    # so it is biased low and falls with K (Week 2 Day 2).
    console.print("[dim]target, draft: forward passes of each model; "
                  "acc/drafted: accepted / drafted draft tokens[/dim]")
    speedup = (len(spec.tokens) / spec_s) / (len(base.tokens) / base_s)
    same = spec.tokens == base.tokens
    if temperature == 0:
        verdict = "[green]yes[/green]" if same else "[red]NO - the decoder is not lossless[/red]"
        console.print(f"identical output: {verdict}")
    else:
        console.print("identical output: not expected at T > 0 (both sample the same distribution)")
    console.print(f"speedup: [bold]{speedup:.2f}x[/bold]   MLX device: {mlx_device()}   "
                  f"BLAS: {blas_name()}")
    return 0 if (same or temperature > 0) else 1
