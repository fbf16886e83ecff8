"""An unwritten stub in `demo`/`walkthrough`/`bench` names the task and its chapter's test command.

Bug caught: "Finish that task (its tests: specdec test)" without the week and day, which runs
every chapter's tests instead of the one the student is on.
"""

import pytest
from rich.console import Console

from specdec_course.core.tasks import CHAPTERS, stub_message
from specdec_course.core.unwritten import TaskNotWritten, friendly_stubs, report_unwritten

# A module entry ("theory") stands for every function in it: name one.
TASKS = [
    (ch, task if "." in task else f"{task}.some_function") for ch in CHAPTERS for task in ch.tasks
]


def _report(message: str, impl: str = "src") -> tuple[int, str]:
    console = Console(width=80, record=True, force_terminal=False)
    with pytest.raises(TaskNotWritten) as info, friendly_stubs():
        raise NotImplementedError(message)
    status = report_unwritten(console, info.value, impl)
    return status, " ".join(console.export_text().split())  # as read, whatever the wrapping


@pytest.mark.parametrize("ch,task", TASKS, ids=[task for _, task in TASKS])
def test_the_hint_names_the_chapters_test_command(ch, task):
    status, text = _report(stub_message(task))
    assert status == 1
    assert f"specdec test --week {ch.week} --day {ch.day}" in text, (
        f"the hint for {task} must name its chapter's tests "
        f"(--week {ch.week} --day {ch.day}): {text}"
    )
    assert "--impl solutions" in text


def test_the_reference_gets_no_finish_that_task_hint():
    # On --impl solutions a stub message means a broken reference, not a student's next step.
    status, text = _report(stub_message(TASKS[0][1]), impl="solutions")
    assert status == 1 and "Finish that task" not in text


def test_an_unknown_message_still_gets_a_command():
    status, text = _report("something else is not written")
    assert status == 1 and "specdec test" in text
