"""``specdec demo`` / ``walkthrough --target smollm2``: prompt lookup on a real chat model.

SmolLM2-135M-Instruct has no offline draft model, so it drafts with prompt lookup (Week 4
Day 1: ``NgramDrafter`` in ``lookup_generate``): the tokens that followed the last earlier
occurrence of the context's tail. Prompts are plain English, wrapped in SmolLM2's chat
template; the default asks for a paragraph back with its typos fixed, where the answer copies
the prompt and lookup pays.
"""

from __future__ import annotations

import time
from typing import Any

import mlx.core as mx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from specdec_course.core.blas import blas_name, mlx_device
from specdec_course.core.impl import activate, requested_impl
from specdec_course.core.unwritten import TaskNotWritten, friendly_stubs, report_unwritten


def _load(console: Console, target: str) -> tuple[Any, Any]:
    from specdec_course.api.models import load_target

    with console.status(f"loading {target} (converted on first use)"):
        return load_target(target)


def _piece(tokenizer: Any, token: int) -> str:
    return tokenizer.decode([token]).replace(" ", "·").replace("\n", "↵")


def lookup_demo(
    console: Console,
    *,
    prompt: str | None,
    lookahead: int,
    max_tokens: int,
    target: str,
    impl: str | None,
) -> int:
    """Target-only vs prompt lookup on one chat prompt (greedy): text, counts, speed."""
    from specdec_course.api.smollm2 import chat_ids, prompts

    impl = requested_impl(impl)
    activate(impl)
    from specdec.baseline import autoregressive_generate
    from specdec.lookup import lookup_generate
    from specdec.ngram import NgramDrafter

    model, tokenizer = _load(console, target)
    user = prompt or prompts()["demo"]
    ids = chat_ids(tokenizer, user)
    eos = set(tokenizer.eos_token_ids)
    vocab = model.args.vocab_size

    def lookup() -> Any:
        drafter = NgramDrafter(vocab)
        return lookup_generate(
            model, ids, max_tokens, drafter=drafter, lookahead=lookahead, eos_token_id=eos
        )

    try:
        with friendly_stubs():
            with console.status("warming up"):
                autoregressive_generate(model, ids, 4)
                lookup_generate(model, ids, 4, drafter=NgramDrafter(vocab), lookahead=lookahead)
            with console.status("target-only decoding"):
                t0 = time.perf_counter()
                base = autoregressive_generate(model, ids, max_tokens, eos_token_id=eos)
                base_s = time.perf_counter() - t0
            with console.status("prompt lookup"):
                t0 = time.perf_counter()
                spec = lookup()
                spec_s = time.perf_counter() - t0
    except TaskNotWritten as err:
        return report_unwritten(console, err, impl)

    console.print(Text("user: ", style="bold") + Text(user))
    text, pos = Text(), 0
    for accepted in spec.accepted_per_round:
        for j in range(accepted + 1):
            if pos < len(spec.tokens):
                text.append(
                    tokenizer.decode([spec.tokens[pos]]), style="green" if j < accepted else ""
                )
                pos += 1
    console.rule(
        f"SmolLM2-135M-Instruct, prompt lookup, K = {lookahead} ({impl}, MLX {mlx_device()})"
    )
    console.print(text)
    console.print(
        "[green]green[/green] = looked-up tokens the target accepted (copied from the "
        "context); plain = tokens from the target"
    )
    table = Table(title="prompt lookup vs target-only, same prompt, same process")
    for col in ("", "tokens", "seconds", "tokens/s", "target calls", "tokens/call"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, run, secs in (("target-only", base, base_s), ("prompt lookup", spec, spec_s)):
        table.add_row(
            name,
            str(len(run.tokens)),
            f"{secs:.2f}",
            f"{len(run.tokens) / secs:.1f}",
            str(run.target_calls),
            f"{run.tokens_per_target_call:.2f}",
        )
    console.print(table)
    same = spec.tokens == base.tokens
    console.print(
        "identical output: "
        + ("[green]yes[/green]" if same else "[red]NO - the loop is not lossless[/red]")
    )
    speedup = (len(spec.tokens) / spec_s) / (len(base.tokens) / base_s)
    console.print(
        f"speedup: [bold]{speedup:.2f}x[/bold]   MLX device: {mlx_device()}   BLAS: {blas_name()}"
    )
    return 0 if same else 1


def lookup_walkthrough(
    console: Console, *, prompt: str | None, lookahead: int, target: str, impl: str | None
) -> int:
    """One prompt-lookup round, position by position, in the middle of a chat answer."""
    from specdec_course.api.smollm2 import chat_ids, prompts

    impl = requested_impl(impl)
    activate(impl)
    from specdec.ngram import NgramDrafter
    from specdec.verify import verify_speculation

    model, tokenizer = _load(console, target)
    case = prompts()["walkthrough"]
    user, answer = (prompt, "") if prompt else (case["user"], case["assistant"])
    ids = chat_ids(tokenizer, user, answer)
    try:
        with friendly_stubs():
            drafts, draft_logits = NgramDrafter(model.args.vocab_size).propose(ids, lookahead)
            logits = model(mx.array(ids + drafts)[None])[0, len(ids) - 1 :]
            n, emitted = (
                verify_speculation(drafts, logits, draft_logits)
                if drafts
                else (0, [int(mx.argmax(logits[-1]).item())])
            )
    except TaskNotWritten as err:
        return report_unwritten(console, err, impl)
    console.print(Text("user: ", style="bold") + Text(user))
    console.print(Text("answer so far: ", style="bold") + Text(answer or "(none)"))
    choices = mx.argmax(logits, axis=-1).tolist()
    table = Table(title=f"one prompt-lookup round, K = {lookahead} ({impl}, MLX {mlx_device()})")
    for col in ("position", "lookup proposes", "target's choice", "verdict", "emitted"):
        table.add_column(col)
    for i in range(len(drafts) + 1):
        proposed = _piece(tokenizer, drafts[i]) if i < len(drafts) else "-"
        if i < n:
            verdict, emit = "[green]accepted[/green]", _piece(tokenizer, drafts[i])
        elif i == n and i < len(drafts):
            verdict, emit = "[red]rejected[/red]", _piece(tokenizer, emitted[-1])
        elif i == n:
            verdict, emit = "[cyan]bonus[/cyan] (all accepted)", _piece(tokenizer, emitted[-1])
        else:
            verdict, emit = "[dim]discarded[/dim]", ""
        table.add_row(str(len(ids) + i), proposed, _piece(tokenizer, choices[i]), verdict, emit)
    console.print(table)
    console.print(
        f"the drafter copied {len(drafts)} tokens that followed the last earlier "
        f"occurrence of the context's tail (no model ran); {len(emitted)} tokens for "
        "[bold]1 target call[/bold]. · is a space, ↵ a newline."
    )
    return 0
