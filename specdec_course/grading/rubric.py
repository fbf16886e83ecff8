"""The rubric (points, hidden share, caps per day) and the reference's recorded timings.

Both are read, checked and hashed before any student code runs; ``grade.json`` carries the
rubric's hash, so a grade can be tied to the rubric that produced it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from specdec_course.core.tasks import CHAPTERS

RUBRIC_PATH = Path(__file__).resolve().parent / "rubric.toml"
#: Seconds per test id on the reference, written by ``specdec check``.
TIMINGS_PATH = Path(__file__).resolve().parent / "reference_times.json"
#: A test the timings do not know is assumed to take this long on the reference.
DEFAULT_TEST_S = 2.0


class GradeError(RuntimeError):
    """The grader cannot work (bad submission path, bad rubric, no tests)."""


@dataclass(frozen=True)
class DayRule:
    """One chapter day's line of the rubric."""

    points: float
    hidden_share: float
    test_timeout_s: float
    day_cap_s: float
    collect_cap_s: float = 30.0


@dataclass(frozen=True)
class Rubric:
    """Every day's rule, and the hash of the file they came from."""

    rules: dict[str, DayRule]
    sha256: str

    def __getitem__(self, marker: str) -> DayRule:
        return self.rules[marker]


def load_rubric(path: Path = RUBRIC_PATH) -> Rubric:
    """The rubric per chapter marker (``"w1d4"``), every registered day included.

    Raises:
        GradeError: for a rubric that is missing, not TOML, or has a bad value.
    """
    try:
        raw = Path(path).read_bytes()
        data = tomllib.loads(raw.decode())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise GradeError(f"cannot read the rubric {path}: {err}") from err
    defaults = data.get("defaults", {})
    days = data.get("days", {})
    unknown = sorted(set(days) - {c.marker for c in CHAPTERS})
    if unknown:
        raise GradeError(f"rubric {path} names days that are not chapters: {unknown}")
    rules = {}
    for ch in CHAPTERS:
        # A rubric written before the import cap existed gets the cap's default.
        merged = {"collect_cap_s": DayRule.collect_cap_s, **defaults, **days.get(ch.marker, {})}
        try:
            rule = DayRule(**{k: float(merged[k]) for k in DayRule.__dataclass_fields__})
        except (KeyError, TypeError, ValueError) as err:
            raise GradeError(f"rubric {path}: day {ch.marker} lacks a valid {err}") from err
        if rule.points < 0 or not 0 <= rule.hidden_share <= 1 or rule.test_timeout_s <= 0:
            raise GradeError(f"rubric {path}: day {ch.marker} has an out-of-range value {rule}")
        rules[ch.marker] = rule
    return Rubric(rules, hashlib.sha256(raw).hexdigest())


def load_timings(path: Path = TIMINGS_PATH) -> dict[str, float]:
    """Seconds per test id on the reference (empty when never recorded)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.get("seconds", {}).items()}


def record_timings(records: list[dict], path: Path = TIMINGS_PATH) -> None:
    """Save the reference's per-test durations (``specdec check`` calls this)."""
    seconds = {
        r["nodeid"]: round(float(r["duration"]), 3)
        for r in records
        if r.get("duration") is not None and not r["nodeid"].startswith("tests/course/")
    }
    if not seconds:
        return
    old = load_timings(path)
    # Rewritten only when the tests changed or a time moved by more than 3x (and 0.5 s):
    # a machine's noise alone does not dirty the repository after every `specdec check`.
    if set(old) == set(seconds) and all(
        abs(seconds[k] - old[k]) < 0.5 or 1 / 3 < seconds[k] / max(old[k], 1e-3) < 3
        for k in seconds
    ):
        return
    text = json.dumps({"about": "reference seconds per test", "seconds": seconds}, indent=0)
    path.write_text(text + "\n")


def day_times(
    rule: DayRule, ids: list[str], timings: dict[str, float]
) -> tuple[dict[str, float], dict[str, float], float]:
    """Per-test timeouts, the stricter ones after a first timeout, and the day's budget (s).

    From the reference's own timing: a test may take 10x its reference time plus 5 s (at
    least 10 s, at most the rubric's ``test_timeout_s``); once a test of the day has run
    out of time (an endless loop), the rest get 3x plus 2 s (at least 3 s). The day gets
    30 s to start plus 4x the reference's total, at least 20 s (at most ``day_cap_s``). An
    honest student's code, even several times slower than the reference, fits; an endless
    loop costs seconds, not minutes.
    """
    ref = {i: timings.get(i, DEFAULT_TEST_S) for i in ids}
    normal = {i: min(rule.test_timeout_s, max(10.0, 10 * t + 5)) for i, t in ref.items()}
    strict = {i: min(normal[i], max(3.0, 3 * t + 2)) for i, t in ref.items()}
    budget = min(rule.day_cap_s, 30 + max(20.0, 4 * sum(ref.values())))
    return normal, strict, budget
