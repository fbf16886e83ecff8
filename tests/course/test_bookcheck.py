"""The book builds and names only things that exist."""

import os

import pytest

from specdec_course.authoring import bookcheck


def test_book_builds(tmp_path):
    # Without an mdbook binary there is nothing to build with: skip, saying why, except on CI
    # (the CI variable is set), where the book must build and a missing mdbook is a failure.
    if bookcheck.mdbook_binary() is None and not os.environ.get("CI"):
        pytest.skip("no mdbook binary (install the dev group: `uv sync`); CI builds the book")
    ok, output = bookcheck.build_book(tmp_path / "html")
    assert ok, output
    assert (tmp_path / "html" / "week1-01-sampling.html").exists()


def test_missing_mdbook_skips_locally_but_fails_on_ci(tmp_path, monkeypatch):
    monkeypatch.setattr(bookcheck, "mdbook_binary", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no mdbook"):
        test_book_builds(tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(AssertionError, match="mdbook not found"):
        test_book_builds(tmp_path)


def test_chapters_reference_only_existing_things():
    assert bookcheck.reference_problems() == []


def test_a_wrong_reference_is_caught(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "SUMMARY.md").write_text("# Summary\n")
    (src / "week9-01-x.md").write_text(
        "## Tasks\n\nEdit `src/specdec/nothing.py`, write `no_such_function()`.\n"
        "Run `specdec test --week 9 --day 1`.\n")
    monkeypatch.setattr(bookcheck, "BOOK", tmp_path)
    problems = bookcheck.reference_problems()
    assert any("nothing.py" in p for p in problems)
    assert any("no_such_function()" in p for p in problems)
    assert any("selects no tests" in p for p in problems)
