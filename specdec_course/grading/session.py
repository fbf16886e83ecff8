"""One day's test run under the grader: start the worker, read its verdicts, end it.

The grader asks for node ids in an order; the worker must answer ``collected`` (those ids),
then ``start``/``result`` for each in that order, then ``done``, each record signed (see
``channel.py``). A crash, a hang or a kill is charged to the test that was running, and the
worker is started again for the tests after it, so ``os._exit`` or a segfault in one test
costs that test only. A record that is not part of that story (forged, repeated, out of
order, for an id nobody asked for) is an anomaly: the day earns nothing, and the report
says why. Every process of the day is killed when the run ends, not only at a cap.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from specdec_course.core.blas import fast_blas_env
from specdec_course.grading.channel import ChannelError, Receiver, new_key
from specdec_course.grading.procs import TOKEN_VAR, Containment, kill_all

#: Restarts after a crash before the rest of the day is given up.
MAX_RESTARTS = 4
#: What the worker may use (the reference needs well under these; see instructors.md).
LIMITS = {
    "memory_bytes": 8 * 2**30,
    "processes": 512,
    "file_bytes": 16 * 2**20,
    "cpu_s": 1200,
}
#: Variables a worker keeps from the grader's environment (nothing of the instructor's).
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LD_PRELOAD", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass
class DayRun:
    """What one day's run produced: a record per id that reported, and notes."""

    results: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    anomaly: str = ""
    collect_errors: list[str] = field(default_factory=list)
    leftovers: int = 0  # processes still alive at the end and killed


def _env(scratch: Path, token: str) -> dict[str, str]:
    base = fast_blas_env(os.environ)
    env = {k: base[k] for k in KEEP_ENV if k in base}
    # Everything a library would write (caches, temp files) goes to the scratch folder.
    home = str(scratch)
    env.update(HOME=home, TMPDIR=home, MPLCONFIGDIR=home, XDG_CACHE_HOME=home)
    env.update(PYTHONDONTWRITEBYTECODE="1", HF_HUB_OFFLINE="1", PYTHONHASHSEED="0")
    env[TOKEN_VAR] = token
    return env


class _Story:
    """The order the records must follow; raises ChannelError on anything else."""

    def __init__(self, asked: list[str]):
        self.asked = asked
        self.collected: list[str] | None = None
        self.next = 0
        self.running: str | None = None
        self.done = False

    def take(self, rec: dict, run: DayRun) -> None:
        kind = rec.get("kind")
        if kind == "collect_error" and self.collected is None:
            run.collect_errors.append(str(rec.get("message", ""))[:500])
        elif kind == "collected" and self.collected is None:
            ids = rec.get("ids")
            if not isinstance(ids, list) or any(i not in self.asked for i in ids):
                raise ChannelError("the worker collected tests nobody asked for")
            if len(set(ids)) != len(ids) or ids != [i for i in self.asked if i in ids]:
                raise ChannelError("the worker collected the tests out of order")
            self.collected = ids
        elif kind == "start" and self.collected is not None and self.running is None:
            if self.next >= len(self.collected) or rec.get("nodeid") != self.collected[self.next]:
                raise ChannelError(f"a test started out of turn: {rec.get('nodeid')!r}")
            self.running = rec["nodeid"]
        elif kind == "result" and rec.get("nodeid") == self.running and self.running:
            run.results[self.running] = rec
            self.running, self.next = None, self.next + 1
        elif kind == "done" and self.collected is not None and self.running is None:
            self.done = True
        elif kind == "result" and self.running is None and rec.get("nodeid") in run.results:
            pass  # a test reports a second time only for a teardown failure: its call counts
        else:
            raise ChannelError(f"an unexpected {kind!r} record")


@dataclass(frozen=True)
class DaySetup:
    """What every worker run of one day shares: where it runs, how long, behind what walls.

    Attributes:
        tree: the day's read-only grading tree; ``scratch`` its only writable folder.
        timeouts: per-test timeouts; ``strict_timeouts`` the shorter ones after a timeout.
        collect_cap_s: how long importing and collecting may take.
        budget_s: the day's whole time.
        containment: namespaces / uid / token of the day's processes.
        readable: what task code may read besides the interpreter and its packages.
        hide: folders dropped from the worker's ``sys.path`` (the instructor's checkout).
        log: where the worker's own output goes (its diagnostics before pytest starts).
    """

    tree: Path
    scratch: Path
    timeouts: dict[str, float]
    strict_timeouts: dict[str, float]
    collect_cap_s: float
    budget_s: float
    containment: Containment
    readable: list[Path]
    hide: list[Path]
    log: Path


def _one_worker(day: DaySetup, ids: list[str], deadline: float, run: DayRun) -> str | None:
    """Run the worker once on ``ids``; the id it crashed on (or ``None``)."""
    key = new_key()
    cfg_r, cfg_w = os.pipe()
    res_r, res_w = os.pipe()
    tree, scratch, containment, log = day.tree, day.scratch, day.containment, day.log
    timeouts = day.timeouts
    config = {
        "tree": str(tree),
        "scratch": str(scratch),
        "hide": [str(h) for h in day.hide],
        "readable": [str(p) for p in day.readable],
        "limits": LIMITS,
        "key": key.hex(),
        "fd": res_w,
        "ids": ids,
        "test_timeout_s": max(timeouts.values(), default=60.0),
        "timeouts": {i: timeouts[i] for i in ids if i in timeouts},
        "strict_timeouts": {i: day.strict_timeouts[i] for i in ids if i in day.strict_timeouts},
    }
    worker = tree / "specdec_course" / "grading" / "worker.py"
    env = _env(scratch, containment.token)
    cmd = [*containment.prefix, sys.executable, "-I", str(worker), str(cfg_r)]
    if containment.isolated and "LD_PRELOAD" in env:
        # OpenBLAS preloaded into the root-owned wrappers aborts once they change user: load
        # it only into the worker, after the switch.
        at = len(containment.prefix)
        cmd[at:at] = ["env", f"LD_PRELOAD={env.pop('LD_PRELOAD')}"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=tree,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(cfg_r, res_w),
            start_new_session=True,
        )
    os.close(cfg_r)
    os.close(res_w)
    with os.fdopen(cfg_w, "w") as f:
        f.write(json.dumps(config))
    story, receiver = _Story(ids), Receiver(key)
    started = time.monotonic()
    last = started
    crashed: str | None = None
    try:
        while not story.done:
            now = time.monotonic()
            # pytest-timeout stops a Python loop; a hang it cannot reach (C code, a signal
            # ignored) is stopped here, 15 s after the test's own timeout.
            hang = timeouts.get(story.running or "", 60.0) + 15
            limit = started + day.collect_cap_s if story.collected is None else last + hang
            if now >= min(deadline, limit):
                if now >= deadline:
                    run.notes.append(f"stopped at the day's time budget ({day.budget_s:g} s)")
                elif story.collected is None:
                    run.notes.append(f"importing and collecting took over {day.collect_cap_s:g} s")
                else:
                    run.notes.append(f"no verdict for {hang:g} s: a hang")
                crashed = (story.running or "") if story.collected is not None else None
                break
            ready, _, _ = select.select([res_r], [], [], min(0.5, min(deadline, limit) - now))
            if not ready:
                if proc.poll() is not None and not select.select([res_r], [], [], 0)[0]:
                    crashed = story.running or ""
                    code = proc.returncode
                    how = f"signal {-code}" if code < 0 else f"exit status {code}"
                    run.notes.append(f"the test process ended early ({how})")
                    break
                continue
            data = os.read(res_r, 65536)
            if not data:
                if not story.done:
                    crashed = story.running or ""
                    try:
                        code = proc.wait(timeout=2)
                        how = f"signal {-code}" if code < 0 else f"exit status {code}"
                    except subprocess.TimeoutExpired:
                        how = "its verdict channel closed"
                    run.notes.append(f"the test process ended early ({how})")
                break
            for rec in receiver.feed(data):
                story.take(rec, run)
                last = time.monotonic()
    except ChannelError as err:
        run.anomaly = str(err)
    finally:
        worker_alive = proc.poll() is None  # it may still be on its way out after `done`
        run.leftovers += max(0, kill_all(containment, proc.pid) - worker_alive)
        proc.wait()
        os.close(res_r)
    if story.collected is None and not run.anomaly:
        if not run.collect_errors:
            tail = log.read_bytes()[-3000:].decode(errors="replace").strip().splitlines()
            run.notes.append("no test ran: " + " / ".join(tail[-3:])[-300:])
        return None
    return crashed


def run_day(day: DaySetup, ids: list[str]) -> DayRun:
    """Run ``ids`` to the end, restarting after crashes, within the day's budget."""
    run = DayRun()
    if not ids:
        return run  # pytest given no id would run every test it can find
    deadline = time.monotonic() + day.budget_s
    remaining = list(ids)
    for attempt in range(MAX_RESTARTS + 1):
        crashed = _one_worker(day, remaining, deadline, run)
        if run.anomaly:
            return run
        if crashed:
            run.results[crashed] = {
                "outcome": "error",
                "exception": "Crash",
                "message": "the test process died or hung during this test: "
                + (run.notes[-1] if run.notes else "no verdict"),
            }
        remaining = [i for i in remaining if i not in run.results]
        if not remaining or crashed is None or time.monotonic() >= deadline:
            break
        if attempt == MAX_RESTARTS:
            run.notes.append(f"gave up after {MAX_RESTARTS} restarts")
    return run
