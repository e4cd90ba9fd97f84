"""``hubcore ps`` / ``objects`` / ``logs`` / ``env``: look at a running app without changing it."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from hubcore import _env
from hubcore._rundir import HUB_SOCKET, SPEC_FILE, TOKEN_FILE, require_running
from hubcore.cli._common import (
    CliError,
    Subparsers,
    Target,
    add_command,
    format_table,
    hub_view,
    human_duration,
    same_process,
    target_of,
    unknown_process,
)

if TYPE_CHECKING:
    import psutil

    from hubcore._directory import ObjectInfo

__all__ = ("add_parsers",)

# CPU% is sampled over this long, from the scheduler's nanosecond counters: short enough for a
# command that answers at once, long enough to tell a busy process from an idle one.
CPU_INTERVAL = 0.05
_SCHEDSTAT = os.path.exists("/proc/self/task")  # Linux: per-thread run time in nanoseconds
FOLLOW_INTERVAL = 0.2
REASON_WIDTH = 48
_MIB = 2**20
_LIVE = frozenset({"starting", "running", "stopping"})


def add_parsers(sub: Subparsers) -> None:
    """Register ``ps``, ``objects``, ``logs`` and ``env``."""
    ps = add_command(
        sub,
        "ps",
        "List the app's processes.",
        "hubcore ps --app myapp",
        details="""
        Columns: pid, state, uptime, restarts, memory (RSS of the whole process tree), CPU%
        (sampled over 0.05 s) and the reason of the last start, stop or restart.
        """,
    )
    ps.set_defaults(func=run_ps)
    objects = add_command(
        sub,
        "objects",
        "List the published objects: name, instance, process, pid, methods.",
        "hubcore objects --app myapp",
        details="A trailing * marks a streaming (async generator) method.",
    )
    objects.set_defaults(func=run_objects)
    _add_logs(sub)
    _add_env(sub)


def _add_logs(sub: Subparsers) -> None:
    logs = add_command(
        sub,
        "logs",
        "Print the end of the app's output, of one process if named.",
        "hubcore logs worker -n 50 -f --app myapp",
        details="The output is read from <rundir>/app.log; -f follows it until Ctrl-C.",
    )
    logs.add_argument("process", nargs="?", help="a process name (worker) or instance (worker.1)")
    logs.add_argument("-n", type=int, default=100, metavar="N", help="lines (default 100)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.set_defaults(func=run_logs)


def _add_env(sub: Subparsers) -> None:
    env = add_command(
        sub,
        "env",
        "Print the environment variables that join a running app, for the shell to eval.",
        """
        hubcore env --app myapp
        eval "$(hubcore env --app myapp)" && python server.py
        """,
        details="""
        Prints `export HUBCORE_ADDRESS=...` and `export HUBCORE_TOKEN_FILE=...` lines. With
        them set, a program started from that shell joins the app through the default client
        (hubcore.get_proxy, hubcore.sync.get_proxy). --json prints one JSON object instead.
        If no app runs there, nothing is printed on stdout and the exit code is 1.
        """,
    )
    env.add_argument("--json", action="store_true", help="print a JSON object instead")
    env.set_defaults(func=run_env)


# --- ps ---------------------------------------------------------------------------------------


def run_ps(args: argparse.Namespace) -> int:
    """Print the process table with live memory and CPU figures."""
    target = target_of(args.app, args.rundir)
    target.require_procfile()
    readings = first_readings(target.rundir)  # the CPU sample runs while the hub answers
    with hub_view(target) as hub:
        snapshots = hub.processes()
    now = time.time()
    live = {s["pid"]: s["started_at"] for s in snapshots if _alive(s)}
    usage = measure(live, readings)
    rows = [_ps_row(s, usage.get(s["pid"]) if _alive(s) else None, now) for s in snapshots]
    headers = ("NAME", "PID", "STATE", "UPTIME", "RESTARTS", "RSS", "CPU%", "REASON")
    print(format_table(headers, rows))
    return 0


def _alive(snapshot: dict[str, Any]) -> bool:
    return snapshot.get("state") in _LIVE and bool(snapshot.get("pid") and snapshot["started_at"])


def _ps_row(s: dict[str, Any], usage: tuple[int, float] | None, now: float) -> list[object]:
    # The hub's "uptime" was computed when the state last changed: recompute it for now.
    uptime = now - s["started_at"] if _alive(s) else None
    reason = str(s.get("reason") or "")
    if len(reason) > REASON_WIDTH:
        reason = reason[: REASON_WIDTH - 3] + "..."
    return [
        f"{s['name']}.{s['instance']}",
        s.get("pid") or "-",
        s["state"],
        human_duration(uptime),
        s.get("restarts", 0),
        f"{usage[0] / _MIB:.1f}M" if usage else "-",
        f"{usage[1]:.1f}" if usage else "-",
        reason,
    ]


#: pid -> (CPU seconds it had used, time.monotonic() when that was read)
Readings = dict[int, tuple[float, float]]


def first_readings(rundir: Path) -> Readings:
    """The CPU time of every process under the app's supervisor, read now: the start of the
    sample, taken before the hub is asked, so the sampling interval runs meanwhile."""
    from hubcore._rundir import running_supervisor

    supervisor = running_supervisor(rundir)
    return _read(_descendants(supervisor) if supervisor is not None else [])


def measure(
    started: dict[int, float], readings: Readings | None = None
) -> dict[int, tuple[int, float]]:
    """RSS (bytes) and CPU% of each process tree, CPU sampled over at least CPU_INTERVAL.

    :param started: pid -> when it started (epoch seconds), so a recycled pid is skipped.
    :param readings: the first readings, if taken earlier (:func:`first_readings`); a process
        they miss is read now, and waited for a whole interval.
    """
    trees = {pid: _tree(pid, at) for pid, at in started.items()}
    members = [m for tree in trees.values() for m in tree]
    before = dict(readings or {})
    before.update(_read(m for m in members if m.pid not in before))
    if members:
        last = max(before.get(m.pid, (0.0, time.monotonic()))[1] for m in members)
        time.sleep(max(0.0, last + CPU_INTERVAL - time.monotonic()))
    after = _read(members)
    cpu = {
        pid: max(0.0, spent - before[pid][0]) / (at - before[pid][1]) * 100
        for pid, (spent, at) in after.items()
        if pid in before and at > before[pid][1]
    }
    return {pid: _usage(tree, cpu) for pid, tree in trees.items() if tree}


def _read(procs: Iterable[psutil.Process]) -> Readings:
    readings: Readings = {}
    for proc in procs:
        spent = _cpu_seconds(proc)
        if spent is not None:
            readings[proc.pid] = (spent, time.monotonic())
    return readings


def _descendants(proc: psutil.Process) -> list[psutil.Process]:
    import psutil

    try:
        return list(proc.children(recursive=True))
    except psutil.Error:
        return []


def _tree(pid: int, started_at: float) -> list[psutil.Process]:
    import psutil  # here: the commands that measure nothing never import it

    try:
        proc = psutil.Process(pid)
        if not same_process(proc, started_at):
            return []
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu_seconds(proc: psutil.Process) -> float | None:
    """The CPU time a process has used, all its threads: in nanoseconds from the scheduler
    where Linux has per-thread counters, else psutil's clock ticks (10 ms steps, too coarse
    for a short sample). None if it is gone."""
    import psutil

    if _SCHEDSTAT:
        total, tasks = 0, f"/proc/{proc.pid}/task"
        try:
            threads = os.listdir(tasks)
        except OSError:
            return None
        for thread in threads:
            # A thread that ended meanwhile counts no more.
            with (
                contextlib.suppress(OSError, ValueError, IndexError),
                open(f"{tasks}/{thread}/schedstat", "rb") as stat,
            ):
                total += int(stat.read().split()[0])
        return total / 1e9
    try:
        times = proc.cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def _usage(members: Iterable[psutil.Process], cpu: dict[int, float]) -> tuple[int, float]:
    import psutil

    rss = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            rss += member.memory_info().rss
    return rss, sum(cpu.get(member.pid, 0.0) for member in members)


# --- objects ----------------------------------------------------------------------------------


def run_objects(args: argparse.Namespace) -> int:
    """Print every published instance of every name."""
    target = target_of(args.app, args.rundir)
    target.require_procfile()
    with hub_view(target) as hub:
        infos = hub.objects()
    rows = [
        [i.name, i.instance, i.label, i.pid, _methods(i)]
        for i in sorted(infos, key=lambda i: (i.name, i.instance))
    ]
    print(format_table(("NAME", "INSTANCE", "PROCESS", "PID", "METHODS"), rows))
    return 0


def _methods(info: ObjectInfo) -> str:
    return ", ".join(f"{m}*" if m in info.streams else m for m in info.methods)


# --- env --------------------------------------------------------------------------------------


def run_env(args: argparse.Namespace) -> int:
    """Print HUBCORE_ADDRESS and HUBCORE_TOKEN_FILE of the running app."""
    target = target_of(args.app, args.rundir)
    target.require_procfile()
    require_running(target.procfile, target.rundir)
    variables = {
        _env.ADDRESS: str(target.rundir / HUB_SOCKET),
        _env.TOKEN_FILE: str(target.rundir / TOKEN_FILE),
    }
    if args.json:
        print(json.dumps(variables, indent=2))
    else:
        print("\n".join(f"export {key}={shlex.quote(value)}" for key, value in variables.items()))
    return 0


# --- logs -------------------------------------------------------------------------------------


def run_logs(args: argparse.Namespace) -> int:
    """Print the last lines of app.log (of one process if named), and follow it with -f."""
    target = target_of(args.app, args.rundir)
    target.require_procfile()
    keep = _line_filter(target, args.process)
    try:
        log = target.log.open("rb")
    except FileNotFoundError:
        raise CliError(
            f"no log at {target.log}: the app has not run there "
            "(it is written by `hubcore dev` and `hubcore start`)"
        ) from None
    with log:
        lines = (raw.decode("utf-8", errors="replace") for raw in log)
        for line in deque(filter(keep, lines), maxlen=max(args.n, 0)):
            print(line, end="" if line.endswith("\n") else "\n")
        sys.stdout.flush()
        if args.follow:
            with contextlib.suppress(KeyboardInterrupt):
                _follow(log, keep)
    return 0


def _line_filter(target: Target, process: str | None) -> Callable[[str], bool]:
    """Lines look like ``"worker.1       | text"``: keep those of ``process`` (or all)."""
    if not process:
        return lambda line: True
    known = _known_processes(target)
    is_label = re.fullmatch(r".+\.\d+", process) is not None
    name = process.rpartition(".")[0] if is_label else process
    if known and name not in known:
        raise CliError(unknown_process(process, list(known)))
    if known and is_label and int(process.rpartition(".")[2]) >= known[name]:
        labels = ", ".join(f"{name}.{i}" for i in range(known[name]))
        raise CliError(f"no instance {process!r} in the app; instances of {name}: {labels}")
    label = re.escape(process) if is_label else rf"{re.escape(process)}\.\d+"
    pattern = re.compile(rf"{label} ")
    return lambda line: pattern.match(line) is not None


def _known_processes(target: Target) -> dict[str, int]:
    """Process names from the running app's spec, with their number of instances; empty
    when it is not running."""
    try:
        spec = json.loads((target.rundir / SPEC_FILE).read_text())
        return {name: int(p.get("scale", 1)) for name, p in spec["processes"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _follow(log: BinaryIO, keep: Callable[[str], bool]) -> None:
    """Print lines as they are appended, until Ctrl-C. An interactive tail: it polls."""
    partial = b""
    while True:
        chunk = log.readline()
        if not chunk:
            if log.tell() > os.fstat(log.fileno()).st_size:  # truncated: start over
                log.seek(0)
            time.sleep(FOLLOW_INTERVAL)
            continue
        partial += chunk
        if partial.endswith(b"\n"):
            line = partial.decode("utf-8", errors="replace")
            if keep(line):
                print(line, end="", flush=True)
            partial = b""
