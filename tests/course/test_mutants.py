"""The mutation table (specdec_course.authoring.mutants) stays runnable.

Running the mutants takes minutes, so it is on demand
(``uv run python -m specdec_course.authoring.mutants``); these checks only keep the table in step
with the reference.
"""

from __future__ import annotations

import ast
from collections import Counter

import pytest

from specdec_course.authoring import mutants
from specdec_course.core.paths import HIDDEN_TESTS_DIR
from specdec_course.core.tasks import CHAPTERS


def test_every_snippet_is_in_the_reference_exactly_once():
    assert mutants.table_problems() == [], (
        "a solutions module changed under the mutation table: update the snippet"
    )


def test_at_least_four_mutants_for_every_day_with_tests():
    per_day = Counter(m.day for m in mutants.MUTANTS)
    tested = [c.marker for c in CHAPTERS if mutants.test_files(c.marker)]
    assert len(tested) == len(CHAPTERS), "every chapter has a tests/test_<day>_*.py file"
    for day in tested:
        assert per_day[day] >= 4, f"{day} has {per_day[day]} mutants: add realistic student bugs"
    assert mutants.days() == tested, (
        f"--day offers {mutants.days()}: both tables' days, in course order"
    )
    order = [tested.index(m.day) for m in mutants.MUTANTS]
    assert order == sorted(order), "MUTANTS must be in course order"


def test_hidden_tests_are_found_by_day():
    hidden = HIDDEN_TESTS_DIR / "test_w1d4_hidden.py"
    assert hidden.exists(), "test setup: the W1D4 hidden tests"
    assert mutants.hidden_files("w1d4") == [hidden], (
        "a mutant surviving the public tests must meet tests/hidden/test_<day>_hidden.py"
    )
    assert mutants.hidden_files("w9d9") == [], "no hidden file: nothing to run"


def test_mutants_change_code_not_just_text():
    for m in mutants.MUTANTS:
        assert m.find != m.replace and m.bug
        before = (mutants.SOLUTIONS / "specdec" / f"{m.module}.py").read_text()
        after = before.replace(m.find, m.replace)
        assert ast.dump(ast.parse(before)) != ast.dump(ast.parse(after)), (
            f"{m.bug}: the AST is unchanged"
        )


def test_apply_writes_a_mutated_copy_and_leaves_solutions_alone(tmp_path):
    m = mutants.MUTANTS[0]
    source = mutants.SOLUTIONS / "specdec" / f"{m.module}.py"
    before = source.read_text()
    mutants.apply(m, tmp_path)
    copied = (tmp_path / "specdec" / f"{m.module}.py").read_text()
    assert m.replace in copied and copied.count(m.find) == before.count(m.find) - 1
    assert source.read_text() == before
    with pytest.raises(ValueError, match="exactly once"):
        mutants.apply(
            mutants.Mutant("w1d1", m.module, "no such code", "x", "stale"), tmp_path / "again"
        )


def test_every_mutant_says_which_words_name_its_bug():
    bare = [m.bug for m in mutants.MUTANTS if not m.says or not all(w.strip() for w in m.says)]
    assert bare == [], f"mutants without words for their failure message: {bare}"


def test_a_message_names_the_bug_when_it_has_every_word():
    m = mutants.Mutant(
        "w1d4", "verify", "x", "y", "residual of row 0", ("residual", "row|position")
    )
    assert mutants.names_bug(m, "test_law: AssertionError: the RESIDUAL of each position")
    assert not mutants.names_bug(m, "test_law: AssertionError: the residual is wrong"), (
        "every entry must match (one of its |-alternatives)"
    )
    assert not mutants.names_bug(mutants.Mutant("w1d4", "verify", "x", "y", "b"), "anything"), (
        "a mutant without words never counts as named"
    )


def test_the_first_failure_message_comes_with_the_test_name(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase name="test_ok"/>'
        '<testcase name="test_law[T=1]"><failure message="AssertionError: residual">x</failure>'
        '</testcase><testcase name="test_later"><error message="later"/></testcase>'
        "</testsuite></testsuites>"
    )
    assert mutants._first_failure(junit) == "test_law[T=1]: AssertionError: residual"
    assert mutants._first_failure(tmp_path / "missing.xml") == ""


def test_a_message_cut_short_by_pytest_is_read_whole(tmp_path):
    # pytest's JUnit attribute ends a long message with "[+N more lines; ...]": the hint at
    # its end (what a student reads in the terminal) is in the element's "E" lines.
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase name="test_x"><failure message="AssertionError: '
        'got a long repr&#10;[+3 more lines; full report in element text]">'
        "    assert got == want\nE   AssertionError: got a long repr\nE   reset the drafter"
        "</failure></testcase></testsuite></testsuites>"
    )
    assert "reset the drafter" in mutants._first_failure(junit)

