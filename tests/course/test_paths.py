"""core.paths.day_test_files and core.cmdline.default_workers: the shared lookups.

Bugs caught: a day's files found by a pattern that also matches another day's files,
hidden tests mixed into the public list, and a worker count of 0 or one per core past 4.
"""

from specdec_course.core import cmdline
from specdec_course.core.paths import HIDDEN_TESTS_DIR, TESTS_DIR, day_test_files
from specdec_course.core.tasks import CHAPTERS


def test_every_day_has_its_own_public_and_hidden_files():
    for ch in CHAPTERS:
        public = day_test_files(ch.marker)
        hidden = day_test_files(ch.marker, hidden=True)
        assert public and all(p.parent == TESTS_DIR for p in public), f"{ch.marker}: {public}"
        assert all(p.name.startswith(f"test_{ch.marker}_") for p in public + hidden)
        assert all(p.parent == HIDDEN_TESTS_DIR for p in hidden), f"{ch.marker}: {hidden}"
    assert day_test_files("w9d9") == [], "a day with no file has no tests"


def test_workers_are_one_per_core_at_most_four(monkeypatch):
    for cores, want in [(None, 1), (1, 1), (2, 2), (16, 4)]:
        monkeypatch.setattr(cmdline.os, "cpu_count", lambda c=cores: c)
        assert cmdline.default_workers() == want, f"{cores} cores"
