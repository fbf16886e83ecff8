"""Failure hints name the bug the student made, found by its signature.

Bug caught (in the W1D1 test's message): a student who casts to float32 but multiplies the
logits by T was told to "cast the logits to float32 before the math", because the hint was
chosen by the size of the error alone. Each mutant below has one known bug; the hint its
failure prints must be the one for that bug.
"""

import subprocess
import sys
import textwrap

from specdec_course.core.impl import REPO_ROOT

SCRIPT = textwrap.dedent("""
    import sys
    import mlx.core as mx
    from specdec_course.core.impl import activate
    activate("solutions")
    sys.path.insert(0, "tests")
    import test_w1d1_sampling as t

    def softmax(x):
        e = mx.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    MUTANTS = {
        "times_t": lambda z, T: softmax(z.astype(mx.float32) * T),
        "low_precision": lambda z, T: softmax(z / T).astype(mx.float32),
        "both": lambda z, T: softmax(z * T).astype(mx.float32),
    }
    for name, mutant in MUTANTS.items():
        t.logits_to_probs = mutant
        for dtype in (mx.bfloat16, mx.float16):
            try:
                t.TestLogitsToProbs().test_low_precision_inputs_use_float32_math(dtype)
                print(name, "| NOT CAUGHT")
            except AssertionError as err:
                print(name, "|", str(err).splitlines()[0])
""")


def test_w1d1_precision_hint_is_tied_to_its_bug():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line.split(" | ", 1) for line in proc.stdout.strip().splitlines()]
    assert len(lines) == 6, proc.stdout
    for name, message in lines:
        assert message != "NOT CAUGHT", f"mutant {name} passed the float32 test"
        if name in ("times_t", "both"):
            assert "divide them by T" in message and "cast" not in message, (
                f"multiplying by T must get the temperature hint, got: {message}"
            )
        else:
            assert "cast the logits to float32" in message, (
                f"math in low precision must get the float32 hint, got: {message}"
            )
