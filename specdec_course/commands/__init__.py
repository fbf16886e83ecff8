"""The ``specdec`` command line: one thin module per verb, on top of every other package.

``cli`` parses arguments and dispatches; ``demo`` (demo, walkthrough) and ``check`` (the
instructor self-check). May import: anything of ours; nothing imports ``commands``.
"""
