"""The uv settings a handout ships: `uv run` must not redo work on every call.

Bug caught: ``compile-bytecode = true`` under ``[tool.uv]`` makes every ``uv run`` recompile
all of site-packages ("Bytecode compiled 6838 files" on each command, astral-sh/uv#12202).
"""

import tomllib

from specdec_course.core.paths import REPO_ROOT


def test_uv_run_does_not_recompile_site_packages():
    settings = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text()).get("tool", {})
    assert not settings.get("uv", {}).get("compile-bytecode"), (
        "[tool.uv] compile-bytecode = true recompiles the whole environment on every `uv run`: "
        "compile once with `uv sync --compile-bytecode` where Python cannot write .pyc files"
    )
