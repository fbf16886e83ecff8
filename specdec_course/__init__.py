"""Course machinery for specdec, in packages by role (see ARCHITECTURE.md).

``commands`` -> ``bench`` / ``grading`` / ``authoring`` / ``training`` -> ``api`` / ``testing``
-> ``core``. Never twinned: ``src/`` and ``solutions/`` hold only the task package ``specdec``.
"""

__version__ = "0.1.0"
