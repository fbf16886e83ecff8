"""Containment of a day's test process and of everything it starts.

Where the grader runs as root on Linux (a grading container, CI), each day's worker runs

* in its own **network namespace** (no network at all) and **mount namespace**, where the
  instructor's files that the worker must not reach (the reference, the hidden tests, the
  git history, the rubric, the grader's output, the other submissions) are covered by
  empty, unreadable ``tmpfs`` mounts, and folders it must not list (``/root``) are replaced
  by an empty one with only the interpreter bound back in;
* as a **user of its own** (a fresh uid per day, no groups, ``no_new_privs``): it can
  write nowhere but its scratch folder, and when the day ends every process of that uid
  is killed, however it detached itself (``setsid``, double fork).

Elsewhere (a laptop, macOS) the worker gets its own session and a per-day token in its
environment; the day's end kills the session and, on Linux, every process whose
environment carries the token. The audit hook refuses process creation in both cases; the
kill is the layer under it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_VAR = "SPECDEC_GRADE_TOKEN"


@dataclass
class Containment:
    """How one day's worker is started and, at the end, killed."""

    uid: int | None = None  # a fresh uid (root on Linux) or None (same user)
    token: str = field(default_factory=lambda: secrets.token_hex(12))
    prefix: list[str] = field(default_factory=list)  # unshare/setpriv wrapper, or []

    @property
    def isolated(self) -> bool:
        """True where the worker runs in namespaces as a user of its own."""
        return self.uid is not None


def can_isolate() -> bool:
    """Root on Linux with util-linux's ``unshare`` and ``setpriv``."""
    return (
        sys.platform.startswith("linux")
        and os.geteuid() == 0
        and all(shutil.which(t) for t in ("unshare", "setpriv", "mount"))
        and os.environ.get("SPECDEC_GRADE_NO_ISOLATION") != "1"
    )


def _closed_steps(path: Path) -> list[tuple[Path, Path]]:
    """Every (folder other users cannot traverse, its child on the way to ``path``)."""
    steps = []
    for parent in reversed(path.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            steps.append((parent, parent / path.relative_to(parent).parts[0]))
    return steps


def _mount_script(hide: list[Path], needed: list[Path], stage: Path) -> str:
    lines = ["set -e"]
    # Per closed folder (e.g. /root, or a private temp folder), outermost first: bind aside
    # the children on the way to what is needed, cover the folder with an empty tmpfs, move
    # those children back in. A child that is closed itself is the next folder handled.
    keeps: dict[Path, list[Path]] = {}
    for path in needed:
        for top, child in _closed_steps(path):
            if child not in keeps.setdefault(top, []):
                keeps[top].append(child)
    n = 0
    for top in sorted(keeps, key=lambda p: len(p.parts)):
        moves = []
        for child in keeps[top]:
            keep = stage / f"keep{n}"
            n += 1
            keep.mkdir(parents=True, exist_ok=True)
            lines.append(f"mount --bind '{child}' '{keep}'")
            moves += [f"mkdir -p '{child}'", f"mount --move '{keep}' '{child}'"]
        lines.append(f"mount -t tmpfs -o mode=0755,size=1m specdec-cover '{top}'")
        lines += moves
    for path in hide:
        if path.is_dir():
            lines.append(f"mount -t tmpfs -o mode=0000,size=1m specdec-hidden '{path}'")
        elif path.exists():
            lines.append(f"mount --bind /dev/null '{path}'")
    return "\n".join(lines) + '\nexec "$@"\n'


def contain(hide: list[Path], needed: list[Path], stage: Path) -> Containment:
    """The containment for one day's worker (see the module docstring).

    Args:
        hide: files and folders the worker must not see (they must not contain ``needed``).
        needed: folders the worker must reach (interpreter, environment, tree, models).
        stage: an empty folder for the mount script's temporary binds, outside every
            folder the script covers (the system's temp folder is).
    """
    if not can_isolate():
        return Containment()
    uid = 200_000 + secrets.randbelow(1_000_000_000)
    keep = [h for h in hide if not any(n == h or h in n.parents for n in needed)]
    script = _mount_script(keep, needed, stage)
    prefix = ["unshare", "--mount", "--net", "--", "sh", "-c", script, "specdec-worker"]
    prefix += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    prefix += ["--no-new-privs", "--"]
    return Containment(uid=uid, prefix=prefix)


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []


def _belongs(pid: int, c: Containment) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if "\nState:\tZ" in status:
            return False  # a zombie: already dead, its parent reaps it
        if c.uid is not None:
            uids = next(line for line in status.splitlines() if line.startswith("Uid:"))
            return str(c.uid) in uids.split()[1:]
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        return f"{TOKEN_VAR}={c.token}".encode() in environ.split(b"\0")
    except (OSError, StopIteration):
        return False


def kill_all(c: Containment, session: int | None) -> int:
    """Kill the worker's session and every process of the day; how many were found alive."""
    if session is not None:
        try:
            os.killpg(session, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    found: set[int] = set()
    me = os.getpid()
    quiet = 0
    for _ in range(20):  # a process forking as fast as it can: kill until none is left
        alive = [p for p in _pids() if p != me and _belongs(p, c)]
        if not alive:
            # Two empty looks in a row: a process caught inside execve shows an empty
            # /proc/PID/environ for a moment (the kernel sets it up after closing the
            # exec pipe its parent waits on), so one look can miss it.
            quiet += 1
            if quiet == 2:
                break
            time.sleep(0.02)
            continue
        quiet = 0
        found.update(alive)
        if os.environ.get("SPECDEC_GRADE_DEBUG"):
            for pid in alive:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                    print("leftover", pid, cmd[:200], file=sys.stderr)
                except OSError:
                    pass
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
    return len(found)


def chown_scratch(path: Path, c: Containment) -> None:
    """The scratch folder is the worker's (its only writable place)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if c.uid is not None:
        os.chown(path, c.uid, c.uid)
