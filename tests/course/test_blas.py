"""BLAS detection and the re-exec-with-OpenBLAS policy (specdec_course.core.blas)."""

from __future__ import annotations

import sys

import pytest

from specdec_course.core import blas

OPENBLAS = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"


def test_blas_name_matches_this_process():
    name = blas.blas_name()
    if sys.platform == "darwin":
        assert name.startswith("Accelerate")
    elif sys.platform.startswith("linux"):
        maps = open("/proc/self/maps").read()
        if "libopenblas" in maps:
            assert name.startswith("OpenBLAS (") and "libopenblas" in name
        else:
            assert name.startswith("reference BLAS")


def test_loaded_openblas_parses_maps_lines():
    maps = (
        "7f00-7f01 r--p 00000000 08:01 1 /usr/lib/libc.so.6\n"
        "7f02-7f03 r-xp 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libopenblas.so.0\n"
        "7f04-7f05 rw-p 00000000 00:00 0\n"
    )
    assert blas._loaded_openblas(maps) == "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"
    assert blas._loaded_openblas("7f00-7f01 r--p 0 0:0 0 /usr/lib/libc.so.6\n") is None


def test_find_openblas_searches_given_dirs(tmp_path):
    assert blas.find_openblas((str(tmp_path),)) is None
    lib = tmp_path / "libopenblas.so.0"
    lib.write_bytes(b"")
    assert blas.find_openblas((str(tmp_path / "missing"), str(tmp_path))) == str(lib)


@pytest.mark.parametrize(
    "platform, env, found, expected",
    [
        ("linux", {}, OPENBLAS, OPENBLAS),
        ("linux", {"LD_PRELOAD": "/x/libfoo.so"}, OPENBLAS, f"{OPENBLAS}:/x/libfoo.so"),
        ("linux", {"LD_PRELOAD": OPENBLAS}, OPENBLAS, None),  # already preloaded
        ("linux", {blas.OPT_OUT_ENV: "1"}, OPENBLAS, None),  # user opted out
        ("linux", {blas.REEXEC_GUARD_ENV: "1"}, OPENBLAS, None),  # never loop
        ("linux", {}, None, None),  # nothing to preload
        ("darwin", {}, OPENBLAS, None),  # Accelerate already
        ("win32", {}, OPENBLAS, None),
    ],
)
def test_decide_reexec(platform, env, found, expected):
    assert blas.decide_reexec(platform, env, found) == expected


def test_ensure_fast_blas_respects_opt_out(monkeypatch):
    monkeypatch.setenv(blas.OPT_OUT_ENV, "1")
    monkeypatch.setattr(blas.os, "execve", lambda *a: pytest.fail("must not re-exec"))
    blas.ensure_fast_blas(["python", "-c", "pass"], quiet=True)


def test_ensure_fast_blas_reexecs_with_preload(monkeypatch):
    calls = []
    monkeypatch.setattr(blas.sys, "platform", "linux")
    monkeypatch.delenv(blas.OPT_OUT_ENV, raising=False)
    monkeypatch.delenv(blas.REEXEC_GUARD_ENV, raising=False)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.setattr(blas, "blas_name", lambda: "reference BLAS (slow)")
    monkeypatch.setattr(blas, "mlx_device", lambda: "cpu")
    monkeypatch.setattr(blas, "find_openblas", lambda: OPENBLAS)
    monkeypatch.setattr(blas.os, "execve", lambda exe, argv, env: calls.append((exe, argv, env)))
    blas.ensure_fast_blas(["/usr/bin/python3", "-m", "x"], quiet=True)
    (exe, argv, env), = calls
    assert exe == "/usr/bin/python3" and argv == ["/usr/bin/python3", "-m", "x"]
    assert env["LD_PRELOAD"] == OPENBLAS and env[blas.REEXEC_GUARD_ENV] == "1"


def test_ensure_fast_blas_prints_install_hint_when_missing(monkeypatch, capsys):
    monkeypatch.setattr(blas.sys, "platform", "linux")
    monkeypatch.delenv(blas.OPT_OUT_ENV, raising=False)
    monkeypatch.delenv(blas.REEXEC_GUARD_ENV, raising=False)
    monkeypatch.setattr(blas, "blas_name", lambda: "reference BLAS (slow)")
    monkeypatch.setattr(blas, "mlx_device", lambda: "cpu")
    monkeypatch.setattr(blas, "find_openblas", lambda: None)
    monkeypatch.setattr(blas.os, "execve", lambda *a: pytest.fail("must not re-exec"))
    blas.ensure_fast_blas(["python"])
    assert "apt-get install libopenblas0-pthread" in capsys.readouterr().err


def test_ensure_fast_blas_skips_the_reexec_on_a_gpu(monkeypatch, capsys):
    # Bug caught: on MLX's CUDA backend the matmuls run on the GPU, so preloading a CPU BLAS
    # only costs a second process start (and prints a misleading line).
    monkeypatch.setattr(blas.sys, "platform", "linux")
    monkeypatch.delenv(blas.OPT_OUT_ENV, raising=False)
    monkeypatch.delenv(blas.REEXEC_GUARD_ENV, raising=False)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.setattr(blas, "blas_name", lambda: "reference BLAS (slow)")
    monkeypatch.setattr(blas, "mlx_device", lambda: "gpu")
    monkeypatch.setattr(blas, "find_openblas", lambda: OPENBLAS)
    monkeypatch.setattr(blas.os, "execve", lambda *a: pytest.fail("must not re-exec on a GPU"))
    blas.ensure_fast_blas(["python"])
    assert "re-running" not in capsys.readouterr().err


def test_mlx_device_names_this_process_device():
    import mlx.core as mx

    want = "gpu" if mx.default_device().type == mx.DeviceType.gpu else "cpu"
    assert blas.mlx_device() == want


@pytest.mark.parametrize(
    "platform, device, env, want",
    [
        ("linux", "cpu", {}, "/x/libopenblas.so.0"),
        ("linux", "cpu", {"LD_PRELOAD": "/y/libasan.so"}, "/x/libopenblas.so.0:/y/libasan.so"),
        ("linux", "cpu", {"LD_PRELOAD": "/z/libopenblas.so.0"}, "/z/libopenblas.so.0"),
        ("linux", "cpu", {blas.OPT_OUT_ENV: "1"}, None),
        ("linux", "gpu", {}, None),
        ("darwin", "gpu", {}, None),
    ],
)
def test_fast_blas_env_for_test_processes(monkeypatch, platform, device, env, want):
    """Bugs caught: the preload forced on an opted-out user, on macOS or on a GPU, or doubled."""
    monkeypatch.setattr(blas.sys, "platform", platform)
    monkeypatch.setattr(blas, "mlx_device", lambda: device)
    monkeypatch.setattr(blas, "find_openblas", lambda: "/x/libopenblas.so.0")
    out = blas.fast_blas_env(env)
    assert out.get("LD_PRELOAD") == want, f"{platform}/{device} with {env}: {out.get('LD_PRELOAD')}"
    assert {k: v for k, v in out.items() if k != "LD_PRELOAD"} == {
        k: v for k, v in env.items() if k != "LD_PRELOAD"
    }, "nothing else in the environment may change"
