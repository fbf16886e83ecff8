"""The course's foundation: where files are, which ``specdec`` is imported, and the chapter table.

``impl`` (the ``--impl`` / ``SPECDEC_IMPL`` switch that puts ``src/`` or the reference first on
``sys.path``), ``paths`` (repository root, bundled models, held-out prompts), ``tasks`` (which
chapter teaches which function; drives stub messages, summaries and the book check), ``blas``
(OpenBLAS detection and re-exec for timing commands), ``cmdline`` and ``unwritten`` (an unwritten
stub becomes one friendly line). May import: nothing of ours outside ``core``.
"""
