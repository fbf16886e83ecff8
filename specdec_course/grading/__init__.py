"""Running the task tests: the pytest plugin (``--impl``, markers), the runner and summaries.

Later also grading of student submissions and the handout. May import: ``core``, ``api``,
``testing``; never student code in-process except through pytest.
"""
