"""The worker's own walls: resource limits, an audit hook and tamper checks.

All three are set up by ``worker.py`` before the submission is imported.

* :func:`set_limits`: address space, processes, file size, CPU time, open files, no core
  dumps. A submission that allocates without bound fails its own test with MemoryError.
* :func:`install_audit_hook`: ``sys.addaudithook`` (permanent for the process). Process
  creation, signals to other processes, sockets, ctypes, tracing and file changes outside
  the scratch folder are refused for everyone; while a submitted module is on the call
  stack, reading is refused too outside the interpreter, the installed packages, the
  course package and the bundled models (so no hidden test, reference or grader file).
* :class:`Snapshot`: the namespaces of the test machinery (numpy, the course's test
  helpers, pytest's reporting, the plugin, builtins...) as they were before the
  submission was imported. Any binding that changed afterwards means the submission
  patched what the tests compute or report with; every later verdict then says so.

A hook in the same process is a wall, not a vault: C code (MLX, numpy) opens files without
an audit event, which is why the static check refuses those functions by name and the
grader also hides its own files from the worker (a mount namespace and another user where
it runs as root; see ``procs.py``).
"""

from __future__ import annotations

import builtins
import os
import resource
import sys
import threading
from pathlib import Path
from types import ModuleType

#: Events refused whoever raises them: nothing in a test run needs them.
ALWAYS_REFUSED_PREFIXES = (
    "subprocess.",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "pty.",
    "socket.",
    "ctypes.",
    "sys.settrace",
    "sys.setprofile",
)
#: File-system changes: allowed only inside the scratch folder.
CHANGES = {
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.chflags",
    "os.lchown",
    "os.link",
    "os.symlink",
    "os.truncate",
    "os.utime",
    "os.setxattr",
    "os.removexattr",
    "shutil.copyfile",
    "shutil.copymode",
    "shutil.copystat",
    "shutil.copytree",
    "shutil.move",
    "shutil.rmtree",
    "shutil.chown",
}


class Refused(PermissionError):
    """What the audit hook raises: names the operation and why."""


def set_limits(
    *, memory_bytes: int, processes: int, file_bytes: int, cpu_s: int, open_files: int = 4096
) -> None:
    """Lower this process's limits (inherited by anything it could start)."""
    wanted = {
        resource.RLIMIT_AS: memory_bytes,
        resource.RLIMIT_FSIZE: file_bytes,
        resource.RLIMIT_CPU: cpu_s,
        resource.RLIMIT_NOFILE: open_files,
        resource.RLIMIT_CORE: 0,
    }
    if hasattr(resource, "RLIMIT_NPROC"):
        wanted[resource.RLIMIT_NPROC] = processes
    for which, value in wanted.items():
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            resource.setrlimit(which, (min(value, soft if soft >= 0 else value), hard))


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + os.sep) for r in roots)


def install_audit_hook(
    *, student_dir: Path, scratch: Path, readable: list[Path], own_pid: int
) -> None:
    """Refuse what no test needs, and file access outside ``readable`` from student code.

    Args:
        student_dir: the folder of the submitted task modules (their frames are "student").
        scratch: the only folder anything may change.
        readable: folders student code may read (interpreter, packages, course, models).
        own_pid: this process (the only one a signal may go to).
    """
    student = str(Path(student_dir).resolve())
    scratch_root = (str(Path(scratch).resolve()),)
    readable_roots = tuple(str(Path(p).resolve()) for p in readable) + scratch_root
    busy = threading.local()

    def student_on_stack() -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename.startswith(student):
                return True
            frame = frame.f_back
        return False

    def hook(event: str, args: tuple) -> None:
        if getattr(busy, "on", False):
            return  # the hook's own sys._getframe
        if event.startswith(ALWAYS_REFUSED_PREFIXES):
            raise Refused(f"the grader refuses `{event}` during a test run")
        if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            if event != "os.kill" or args[0] != own_pid:
                raise Refused(f"the grader refuses `{event}` to another process")
            return
        if event not in CHANGES and event != "open":
            return
        path = args[0] if args else None
        if isinstance(path, int) or path is None:
            if event == "open" and isinstance(path, int):
                return  # an already-open descriptor: nothing new is reached
            raise Refused(f"the grader refuses `{event}` here")
        try:
            full = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            raise Refused(f"the grader refuses `{event}` on {path!r}") from None
        if event == "open":
            mode, flags = (args[1] if len(args) > 1 else "r"), (args[2] if len(args) > 2 else 0)
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC)
            )
            if writes and not _under(full, scratch_root) and full != os.devnull:
                raise Refused(f"the grader refuses writing {full}: only the scratch folder")
            if writes:
                return
            busy.on = True
            try:
                strict = student_on_stack()
            finally:
                busy.on = False
            if strict and not _under(full, readable_roots):
                raise Refused(f"task code may not read {full}")
            return
        if not _under(full, scratch_root):
            raise Refused(f"the grader refuses `{event}` on {full}: only the scratch folder")

    sys.addaudithook(hook)


class Snapshot:
    """The bindings of some modules' namespaces, to see later whether anything changed."""

    def __init__(
        self, modules: list[ModuleType], classes: list[type] = (), ignore: tuple[str, ...] = ()
    ):
        self._ignore = set(ignore)
        self._spaces = [(m.__name__, vars(m)) for m in modules] + [
            (f"{c.__module__}.{c.__qualname__}", c.__dict__) for c in classes
        ]
        self._saved = [dict(space) for _, space in self._spaces]

    def retake(self, module: ModuleType) -> None:
        """Snapshot ``module`` again (after the worker's own last change to it)."""
        for n, (name, space) in enumerate(self._spaces):
            if name == module.__name__:
                self._saved[n] = dict(space)

    def changes(self) -> list[str]:
        """``module.name`` for every binding added, removed or rebound since the snapshot."""
        found = []
        for (name, space), saved in zip(self._spaces, self._saved, strict=True):
            now = dict(space)
            for key in saved.keys() | now.keys():
                if key in ("__warningregistry__", "_") or f"{name}.{key}" in self._ignore:
                    continue
                if key in saved and (key not in now or now[key] is not saved[key]):
                    if key.startswith("_") and saved[key] is None and key in now:
                        continue  # a lazy cache filled on first use (`_BUNDLED = None`)
                    found.append(f"{name}.{key}")  # rebound or deleted
                elif key not in saved and (name == "builtins" or hasattr(builtins, key)):
                    found.append(f"{name}.{key}")  # a new global that shadows a builtin
        return sorted(found)
