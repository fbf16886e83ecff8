"""Course machinery for specdec: CLI, the implementation switch, model loading,
test helpers, benchmark and self-check. Never twinned: ``src/`` and
``solutions/`` hold only the task package ``specdec``."""

__version__ = "0.1.0"
