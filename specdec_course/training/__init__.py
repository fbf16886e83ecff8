"""``specdec train-models``: the bundled draft/target pair, trained from scratch, reproducibly.

``config`` -> ``corpus`` -> ``train`` -> ``cards`` -> ``main``. May import: ``core``, ``api``.
"""
