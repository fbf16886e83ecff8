"""Which BLAS does this process use, and switch to a fast one on Linux.

The ``mlx[cpu]`` wheel for Linux links a slow reference BLAS: a 2048x2048
float32 matmul takes ~3 s instead of ~0.1 s with OpenBLAS. Every course
command that times something therefore calls :func:`ensure_fast_blas` first;
when a system OpenBLAS exists it re-executes the same command with
``LD_PRELOAD`` pointing at it (the dynamic linker then resolves MLX's
``cblas_*`` symbols to OpenBLAS). On macOS MLX uses Accelerate/Metal and none
of this applies.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

OPT_OUT_ENV = "SPECDEC_NO_OPENBLAS"
# Set on the re-executed child so a failed preload can never loop.
REEXEC_GUARD_ENV = "SPECDEC_BLAS_REEXEC"

_LIB_NAMES = ("libopenblas.so.0", "libopenblasp.so.0", "libopenblas.so")
_SEARCH_DIRS = (
    "/usr/lib/x86_64-linux-gnu",  # Debian / Ubuntu (x86-64)
    "/usr/lib/aarch64-linux-gnu",  # Debian / Ubuntu (arm64)
    "/usr/lib/x86_64-linux-gnu/openblas-pthread",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread",
    "/usr/lib64",  # Fedora / RHEL
    "/usr/lib",  # Arch
    "/usr/local/lib",
)

INSTALL_HINT = (
    "OpenBLAS not found: timings will use the slow reference BLAS. Install it with "
    "`sudo apt-get install libopenblas0-pthread` (Debian/Ubuntu) or "
    "`sudo dnf install openblas` (Fedora)."
)


def _loaded_openblas(maps_text: str) -> str | None:
    """Return the path of a mapped libopenblas in ``/proc/<pid>/maps`` text, if any."""
    for line in maps_text.splitlines():
        path = line.split()[-1] if line.split() else ""
        if "libopenblas" in Path(path).name:
            return path
    return None


def blas_name() -> str:
    """Describe the BLAS this process uses, e.g. ``"OpenBLAS (/usr/lib/.../libopenblas.so.0)"``."""
    if sys.platform == "darwin":
        return "Accelerate (macOS; Metal for GPU work)"
    if sys.platform.startswith("linux"):
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            maps = ""
        path = _loaded_openblas(maps)
        if path:
            return f"OpenBLAS ({path})"
        return "reference BLAS (slow; mlx-cpu wheel default)"
    return f"unknown BLAS ({sys.platform})"


def mlx_device() -> str:
    """MLX's default device as a short word: ``"gpu"`` (Metal, CUDA) or ``"cpu"``."""
    import mlx.core as mx

    return "gpu" if mx.default_device().type == mx.DeviceType.gpu else "cpu"


def find_openblas(search_dirs: tuple[str, ...] = _SEARCH_DIRS) -> str | None:
    """Return the path of a system OpenBLAS shared library, or ``None``."""
    for d in search_dirs:
        for name in _LIB_NAMES:
            p = Path(d) / name
            if p.is_file():
                return str(p)
    return None


def decide_reexec(platform: str, env: Mapping[str, str], found_path: str | None) -> str | None:
    """Decide whether to re-execute with OpenBLAS preloaded.

    Returns the new ``LD_PRELOAD`` value, or ``None`` to carry on as we are.
    Pure so that the policy can be tested without exec'ing anything.
    """
    if not platform.startswith("linux"):
        return None
    if env.get(OPT_OUT_ENV) or env.get(REEXEC_GUARD_ENV):
        return None
    if found_path is None:
        return None
    current = env.get("LD_PRELOAD", "")
    if "libopenblas" in current:
        return None
    return f"{found_path}:{current}" if current else found_path


def ensure_fast_blas(argv: list[str], *, quiet: bool = False) -> None:
    """Re-exec ``argv`` with OpenBLAS preloaded when that would help (Linux only).

    ``argv`` is the full command line to re-run, normally ``[sys.executable,
    *sys.argv]``. Returns normally when no re-exec is needed or possible; on a
    re-exec this function does not return.
    """
    if not sys.platform.startswith("linux") or os.environ.get(OPT_OUT_ENV):
        return
    if blas_name().startswith("OpenBLAS"):
        return
    if mlx_device() == "gpu":
        return  # MLX's CUDA backend does its matmuls on the GPU: the CPU BLAS does not matter
    found = find_openblas()
    preload = decide_reexec(sys.platform, os.environ, found)
    if preload is None:
        if found is None and not quiet and not os.environ.get(REEXEC_GUARD_ENV):
            print(INSTALL_HINT, file=sys.stderr)
        return
    if not quiet:
        print(
            f"re-running with OpenBLAS preloaded (set {OPT_OUT_ENV}=1 to opt out)",
            file=sys.stderr,
            flush=True,
        )
    env = dict(os.environ, LD_PRELOAD=preload, **{REEXEC_GUARD_ENV: "1"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)


def fast_blas_env(env: Mapping[str, str]) -> dict[str, str]:
    """A child process's environment with OpenBLAS preloaded where that would help (Linux).

    The same policy as the re-exec (:func:`decide_reexec`): an opt-out, a preload already in
    place or no system OpenBLAS leaves ``env`` as it is, and so does MLX on a GPU. The test
    runners use it: the Week 1 and Week 3 tests that decode with the bundled 12-layer target
    spend most of their time in its matmuls (W1D5 on the 2-core CPU: 15-20 s with the
    wheel's BLAS, 13 s with OpenBLAS). Every test must hold on either BLAS, as on any backend.
    """
    out = dict(env)
    if not sys.platform.startswith("linux") or mlx_device() == "gpu":
        return out
    preload = decide_reexec(sys.platform, out, find_openblas())
    if preload is not None:
        out["LD_PRELOAD"] = preload
    return out
