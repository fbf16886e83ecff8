"""The text-based stub generator: solution regions in, readable TODO skeletons out."""

import ast
import importlib.util
import shutil
import subprocess
import sys
import textwrap

import pytest

from specdec_course.authoring.regions import parse_regions
from specdec_course.authoring.stubs import raise_lines, stub_module, stub_problems, todo_plan
from specdec_course.core.impl import IMPLEMENTATIONS
from specdec_course.core.paths import REPO_ROOT
from specdec_course.core.tasks import CHAPTERS, chapter_of_task, stub_message

REF = IMPLEMENTATIONS["solutions"] / "specdec"
SRC = IMPLEMENTATIONS["src"] / "specdec"

METHOD = textwrap.dedent('''\
    """Module docstring."""

    import math

    # Why 0.5: half of the window (this comment must reach the stub).
    HALF = 0.5


    # BEGIN SOLUTION
    def _helper(x):
        return x + 1


    # END SOLUTION


    class AdaptiveSpeculator:
        """Doc."""

        def update_lookahead(self, rate):
            """Method doc."""
            # TODO(W2D3): record a round.
            #   1. Validate the rate.
            # BEGIN SOLUTION
            if rate < 0:

                raise ValueError("negative")
            return _helper(math.floor(rate))
            # END SOLUTION
''')


def _raises(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_regions(textwrap.dedent(text), "m")


def test_nested_markers_name_the_line():
    _raises(
        """\
        def f():
            # BEGIN SOLUTION
            x = 1
            # BEGIN SOLUTION
            return x
            # END SOLUTION
        """,
        r"specdec/m\.py:4: nested # BEGIN SOLUTION: the region opened at line 2",
    )


def test_unbalanced_markers_name_the_line():
    _raises("def f():\n    return 1\n    # END SOLUTION\n", r"specdec/m\.py:3: .*without a")
    _raises("def f():\n    # BEGIN SOLUTION\n    return 1\n", r"specdec/m\.py:2: .*never closed")
    _raises(
        "def f():\n    # BEGIN SOLUTION\n    return 1\n# END SOLUTION\n",
        r"specdec/m\.py:4: .*indented like",
    )
    _raises("def f():\n    #BEGIN SOLUTION\n    return 1\n", r"specdec/m\.py:2: malformed")


def test_region_outside_a_function_must_hold_whole_definitions():
    _raises("# BEGIN SOLUTION\nX = 1\n# END SOLUTION\n", r"specdec/m\.py:2: .*whole definitions")
    _raises(
        "def f(x):\n    y = (x +\n    # BEGIN SOLUTION\n         1)\n"
        "    return y\n    # END SOLUTION\n",
        r"specdec/m\.py:3: .*cuts the statement",
    )


def test_regions_carry_line_numbers_indent_and_qualname():
    regions = parse_regions(METHOD, "adaptive")
    assert [(r.start, r.end, r.indent, r.qualname) for r in regions] == [
        (9, 14, "", None),
        (24, 29, "        ", "adaptive.AdaptiveSpeculator.update_lookahead"),
    ]
    assert regions[1].body.startswith("        if rate < 0:\n\n")


def test_region_in_a_method_becomes_the_registered_raise_and_helpers_vanish():
    stub = stub_module(METHOD, "adaptive")
    tree = ast.parse(stub)
    method = tree.body[-1].body[1]
    raise_stmt = method.body[-1]
    assert isinstance(raise_stmt, ast.Raise), "the region must become a raise statement"
    assert raise_stmt.exc.args[0].value == stub_message(
        "adaptive.AdaptiveSpeculator.update_lookahead"
    )
    assert "_helper" not in stub, "a top-level region (a helper students write) must disappear"
    assert "SOLUTION" not in stub and "negative" not in stub


def test_comments_blank_lines_and_plans_survive():
    stub = stub_module(METHOD, "adaptive")
    assert "# Why 0.5: half of the window (this comment must reach the stub).\nHALF = 0.5\n" in stub
    assert '"""Method doc."""\n        # TODO(W2D3): record a round.\n' in stub
    assert "#   1. Validate the rate.\n        raise NotImplementedError(" in stub
    assert "\n\n\nclass AdaptiveSpeculator:" in stub, "blank lines around the removed helper"
    assert "\n\n\n\n" not in stub and stub.endswith(")\n")


def test_a_helper_region_right_after_the_imports_leaves_one_blank_line():
    # isort (ruff I001) wants ONE blank line between the imports and a detached comment: a
    # removed helper whose TODO comment follows the imports must not leave two (bug caught:
    # a stub that `ruff check` rejects although the reference passes).
    source = textwrap.dedent(
        """\
        import math


        # TODO(W2D3): write _helper.
        # BEGIN SOLUTION
        def _helper(x):
            return math.floor(x)


        # END SOLUTION


        class AdaptiveSpeculator:
            pass
        """
    )
    stub = stub_module(source, "adaptive")
    assert "import math\n\n# TODO(W2D3): write _helper.\n\n\nclass AdaptiveSpeculator:" in stub, (
        f"want one blank line after the imports, two before the class; the stub is:\n{stub}"
    )


def test_long_messages_split_into_one_exact_constant():
    message = stub_message("decoder.SpeculativeDecoder.draft_generation")
    for indent in ("", "    ", "        ", " " * 16):
        lines = raise_lines(indent, message)
        assert all(len(line) <= 100 for line in lines), lines
        call = ast.parse(textwrap.dedent("\n".join(lines))).body[0].exc
        assert call.args[0].value == message


def test_a_task_without_a_region_is_refused():
    source = 'def verify_speculation(a):\n    """Doc."""\n    return a\n'
    with pytest.raises(ValueError, match="verify.verify_speculation has no # BEGIN SOLUTION"):
        stub_module(source, "verify")


def _reference_modules():
    return sorted(p for p in REF.glob("*.py") if p.name != "__init__.py")


def test_every_registered_task_has_a_todo_plan_in_the_reference():
    planned = set()
    for path in _reference_modules():
        source = path.read_text()
        for region in parse_regions(source, path.stem):
            if region.qualname is None:
                continue
            chapter = chapter_of_task(region.qualname)
            plan = todo_plan(source, region)
            where = f"{path.name}:{region.start} ({region.qualname})"
            assert plan is not None, f"{where}: no '# TODO(WnDm): ...' plan above the region"
            tag, steps = plan
            assert tag == f"W{chapter.week}D{chapter.day}", f"{where}: plan tagged {tag}"
            assert steps, f"{where}: the TODO plan has no numbered steps"
            planned.add(region.qualname)
    for chapter in CHAPTERS:
        for task in chapter.tasks:
            assert any(q == task or q.startswith(task + ".") for q in planned), (
                f"registered task {task} has no solution region with a TODO plan"
            )


def test_committed_stubs_are_short_lined_and_carry_their_plans():
    for path in _reference_modules():
        stub = (SRC / path.name).read_text()
        long = [i for i, line in enumerate(stub.splitlines(), 1) if len(line) > 100]
        assert not long, f"src/specdec/{path.name}: lines over 100 characters: {long}"
        raises = [line for line in stub.splitlines() if line.strip().startswith("raise NotImpl")]
        plans = [line for line in stub.splitlines() if line.strip().startswith("# TODO(W")]
        assert len(plans) >= len(raises), f"src/specdec/{path.name}: a stubbed task has no plan"


def test_hand_edited_stub_is_reported(tmp_path):
    src = tmp_path / "specdec"
    shutil.copytree(SRC, src)
    assert stub_problems(src) == []
    stub = src / "verify.py"
    stub.write_text(stub.read_text().replace("#   1. Check", "#   1. check", 1))
    problems = stub_problems(src)
    assert len(problems) == 1 and "src/specdec/verify.py is not what the generator" in problems[0]


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed")
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_stubs_and_reference_are_ruff_clean(command):
    run = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "src", "solutions"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, f"ruff {' '.join(command)} src solutions:\n{run.stdout}{run.stderr}"
