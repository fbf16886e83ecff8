"""specdec handout: what ships, and a leak check that catches a planted solution."""

import shutil

import pytest

from specdec_course.commands.handout import HandoutError, write_tree
from specdec_course.commands.leaks import leak_problems
from specdec_course.core.impl import IMPLEMENTATIONS

REF = IMPLEMENTATIONS["solutions"] / "specdec"


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    dest = tmp_path_factory.mktemp("handout") / "repo"
    write_tree(dest)
    return dest


def test_ships_the_student_side_only(handout):
    assert (handout / "src" / "specdec" / "verify.py").is_file()
    assert (handout / "tests" / "test_w1d4_verify.py").is_file()
    assert (handout / ".github" / "workflows" / "tests.yml").is_file()
    for absent in (
        "solutions",
        "tests/hidden",
        "specdec_course/authoring",
        "specdec_course/grading/rubric.toml",
        "specdec_course/grading/grade.py",
    ):
        assert not (handout / absent).exists(), f"{absent} must not ship"
    assert not list(handout.rglob("__pycache__")), "no compiled caches in the handout"
    readme = (handout / "README.md").read_text()
    assert readme.index("uv run specdec test") < readme.index("walkthrough"), "student path first"


def test_a_clean_handout_has_no_leak(handout):
    assert leak_problems(handout) == []


def test_handout_chapters_never_ask_for_the_reference(handout):
    # A student's handout has no reference: `--impl solutions` in a chapter is a command
    # that can only fail there (bug caught: chapters copied as they are).
    asking = [
        p.name
        for p in (handout / "book" / "src").glob("*.md")
        if "--impl solutions" in p.read_text()
    ]
    assert not asking, f"these handout chapters still ask for --impl solutions: {asking}"


def test_a_planted_solution_body_is_caught(handout, tmp_path):
    dest = tmp_path / "leaky"
    shutil.copytree(handout, dest)
    # The reference verify.py in place of the stub: its solution region is in DEST now.
    shutil.copy2(REF / "verify.py", dest / "src" / "specdec" / "verify.py")
    problems = leak_problems(dest)
    assert any("holds the solution of verify.verify_speculation" in p for p in problems), problems


def test_a_reformatted_solution_in_another_file_is_caught(handout, tmp_path):
    dest = tmp_path / "leaky2"
    shutil.copytree(handout, dest)
    body = (REF / "sampling.py").read_text()
    start = body.index("    # BEGIN SOLUTION", body.index("def sample_from_probs"))
    region = body[start : body.index("    # END SOLUTION", start)]
    # Comments and blank lines differ, the code (AST) is the same.
    code = "\n".join(line for line in region.splitlines() if not line.strip().startswith("#"))
    (dest / "notes.py").write_text("def cheat(probs, key=None):\n    import math\n" + code + "\n")
    assert any("sample_from_probs" in p for p in leak_problems(dest))


def test_pointers_and_folders_named_after_the_reference_are_caught(handout, tmp_path):
    dest = tmp_path / "leaky3"
    shutil.copytree(handout, dest)
    (dest / "book" / "src" / "extra.md").write_text("see solutions/specdec/verify.py\n")
    (dest / "solutions").mkdir()
    problems = leak_problems(dest)
    assert any("points at the reference" in p for p in problems)
    assert any(p.startswith("solutions/") for p in problems)


def test_refuses_a_non_empty_destination(tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(HandoutError, match="not empty"):
        write_tree(tmp_path)


def test_the_handout_machinery_never_names_the_reference(handout, tmp_path):
    # Bug caught: a docstring, help text or the --impl table of the shipped machinery still
    # says where the reference lives (the gap the first handout had).
    table = (handout / "pyproject.toml").read_text()
    assert 'implementations = { src = "src" }' in table, (
        "the handout's --impl table must list src only"
    )
    dest = tmp_path / "leaky4"
    shutil.copytree(handout, dest)
    core = dest / "specdec_course" / "core" / "paths.py"
    core.write_text(core.read_text() + "\n# the reference lives in solutions\n")
    problems = leak_problems(dest)
    assert any(p.startswith("specdec_course/core/paths.py") for p in problems), problems


def test_the_handout_cli_offers_only_the_students_code(handout):
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from specdec_course.core.impl import IMPLEMENTATIONS as I; print(sorted(I))",
        ],
        cwd=handout,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(handout), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['src']", f"the handout offers --impl {proc.stdout.strip()}"


def test_instructor_traces_are_caught(handout, tmp_path):
    # Bugs caught: stubs headed "Generated from the reference", an API docstring about the
    # hidden tests, a chapter citing an internal issue number, a command commented as the
    # reference's: none names the solution code, yet each is an instructor's trace.
    dest = tmp_path / "traces"
    shutil.copytree(handout, dest)
    stub = dest / "src" / "specdec" / "verify.py"
    stub.write_text("# Generated from the reference by a tool\n" + stub.read_text())
    keys = dest / "specdec_course" / "api" / "keys.py"
    keys.write_text(keys.read_text() + "\n# a bug the hidden tests catch\n")
    (dest / "book" / "src" / "extra.md").write_text("The goal (issue 9) holds.\n")
    (dest / "book" / "src" / "cmds.md").write_text(
        "```sh\nuv run specdec x  # the reference\n```\n"
    )
    problems = " ".join(leak_problems(dest))
    for where in ("verify.py:1", "keys.py:", "extra.md:1", "cmds.md:2"):
        assert where in problems, f"{where} holds an instructor trace the leak check missed"


def test_handout_chapters_drop_the_references_duplicate_commands(handout):
    # Bug caught: `--impl solutions` removed from "uv run specdec test ... --impl solutions
    # # the reference passes" left the same command twice, commented as the reference's.
    setup = (handout / "book" / "src" / "setup.md").read_text()
    assert "the reference passes" not in setup
    assert setup.count("uv run specdec test --week 1 --day 1 ") == 1, setup
    bench = (handout / "book" / "src" / "week2-02-benchmark.md").read_text()
    assert "the reference decoder" not in bench and "compare with the reference" not in bench


def test_the_runs_the_chapters_cite_ship_without_the_reference(handout):
    # A chapter's generated table says "from recorded run NAME (book/runs/NAME.json)": a
    # handout without those files sends the student to nothing.
    from specdec_course.core.paths import REPO_ROOT

    recorded = sorted(p.name for p in (REPO_ROOT / "book" / "runs").glob("*.json"))
    shipped = sorted(p.name for p in (handout / "book" / "runs").glob("*.json"))
    assert shipped == recorded, "every recorded run must ship with the handout"
    for name in shipped:
        text = (handout / "book" / "runs" / name).read_text()
        assert "solutions" not in text and "dirty_files" not in text, name
