"""Course machinery for specdec, in packages by role (see ARCHITECTURE.md).

``commands`` -> ``bench`` / ``grading`` / ``authoring`` / ``training`` -> ``api`` / ``testing``
-> ``core``. Never twinned: the student and reference folders hold only the task package
``specdec``.
"""

__version__ = "0.1.0"
