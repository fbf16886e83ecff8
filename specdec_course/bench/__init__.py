"""``specdec bench`` and the speed bar: measurement, the K sweep, the mlx-lm comparison, reports.

``settings`` -> ``costs`` / ``sweep`` / ``mlxlm`` / ``adaptive_sim`` -> ``report`` -> ``render`` /
``output`` -> ``run`` (the command); ``mlxlm_speed`` is the standalone speed-bar command.
May import: ``core``, ``api``, ``testing``.
"""
