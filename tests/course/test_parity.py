"""The AST parity check catches a drifting stub."""

import shutil

import pytest

from specdec_course.core.impl import IMPLEMENTATIONS
from specdec_course.authoring.parity import parity_problems
from specdec_course.authoring.stubs import stub_module

REF = IMPLEMENTATIONS["solutions"] / "specdec"


@pytest.fixture
def src_copy(tmp_path):
    dest = tmp_path / "specdec"
    shutil.copytree(IMPLEMENTATIONS["src"] / "specdec", dest)
    return dest


def test_repository_is_in_parity():
    assert parity_problems() == []


def test_stubs_are_what_the_generator_makes():
    for path in REF.glob("*.py"):
        if path.name != "__init__.py":
            expected = stub_module(path.read_text(), path.stem)
            actual = (IMPLEMENTATIONS["src"] / "specdec" / path.name).read_text()
            assert actual == expected, f"src/specdec/{path.name} is stale: run python -m specdec_course.authoring.stubs"


def test_pass_body_is_refused(src_copy):
    f = src_copy / "sampling.py"
    text = f.read_text()
    start = text.index('    raise NotImplementedError(\n        "Week 1 Day 1 task `sample_token`')
    end = text.index(")\n", start) + 2
    f.write_text(text[:start] + "    pass\n" + text[end:])
    assert any("sampling.sample_token" in p and "body must be" in p for p in parity_problems(src_copy, REF))


def test_changed_signature_is_refused(src_copy):
    f = src_copy / "sampling.py"
    f.write_text(f.read_text().replace("temperature: float = 1.0", "temp: float = 1.0", 1))
    assert any("signature or docstring differs" in p for p in parity_problems(src_copy, REF))


def test_missing_module_and_solutions_import_are_refused(src_copy):
    (src_copy / "sampling.py").unlink()
    (src_copy / "extra.py").write_text("from solutions.specdec import sampling\n")
    problems = parity_problems(src_copy, REF)
    assert any("has no student stub" in p for p in problems)
    assert any("imports the solutions package" in p for p in problems)


def test_given_function_keeps_the_reference_body(src_copy):
    # batched_speculative_decode is in tasks.GIVEN: copied whole into the stub, never a raise.
    assert parity_problems(src_copy, REF) == []
    f = src_copy / "batched.py"
    text = f.read_text()
    f.write_text(text.replace("    return [r.tokens for r in results]\n", "    return results\n"))
    assert any(
        "batched.batched_speculative_decode" in p and "given function" in p
        for p in parity_problems(src_copy, REF)
    )
