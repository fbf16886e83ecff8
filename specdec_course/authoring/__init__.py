"""Course authoring: stub generation, API parity, the book check, figures, import graph.

Tools instructors run to keep the reference, the stubs, the tests and the book consistent.
May import: ``core``, ``api``, ``testing``.
"""
