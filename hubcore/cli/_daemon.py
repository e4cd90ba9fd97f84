"""``hubcore start`` / ``hubcore stop``: the app of ``hubcore dev`` as a background daemon.

How it works: ``start`` runs ``python -m hubcore.cli dev <procfile> --rundir <dir>`` in a new
session, its output appended to ``<rundir>/app.log``, and hands it the write end of a pipe
(``--ready-fd``). The daemon writes ``ready`` there once every process is up; the pipe closing
without that means the daemon died, and ``start`` shows the end of its log. Nothing is polled.
``stop`` finds the daemon again through ``<rundir>/supervisor.pid`` and sends it SIGTERM, which
is the graceful stop of ``hubcore dev``.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import psutil

from hubcore.app._procfile import load_procfile
from hubcore.cli._common import (
    CliError,
    Subparsers,
    Target,
    add_command,
    not_running,
    running_supervisor,
    target_of,
)
from hubcore.cli._dev import refuse_if_running

__all__ = ("add_parsers",)

TAIL_LINES = 30
STOP_GRACE = 15.0  # a daemon told to give up gets this long before SIGKILL
_WAIT_STEP = 0.1


def add_parsers(sub: Subparsers) -> None:
    """Register ``start`` and ``stop``."""
    start = add_command(
        sub,
        "start",
        "Start an app in the background; return once every process is ready.",
        "hubcore start myapp/procfile.py",
        details="""
        It runs as `hubcore dev` would, in a session of its own, its output appended to
        <rundir>/app.log (see `hubcore logs`). If it fails to boot, the end of its log is
        printed and the exit code is 1.
        """,
        app=False,
    )
    start.add_argument("procfile", nargs="?", default="procfile.py", help="procfile or folder")
    start.add_argument("--timeout", type=float, default=60.0, metavar="S", help="default 60")
    start.set_defaults(func=run_start)
    stop = add_command(
        sub,
        "stop",
        "Stop a running app gracefully and wait until it has exited.",
        "hubcore stop --app myapp",
        details="It sends SIGTERM to the app's supervisor process (found in the run directory).",
    )
    stop.add_argument("--timeout", type=float, default=30.0, metavar="S", help="default 30")
    stop.set_defaults(func=run_stop)


# --- start ------------------------------------------------------------------------------------


def run_start(args: argparse.Namespace) -> int:
    """Spawn the daemon and wait until it is ready, dies, or the timeout passes."""
    target = target_of(args.procfile, args.rundir)
    load_procfile(target.procfile)  # a broken procfile fails here, in the user's terminal
    refuse_if_running(target)
    target.rundir.mkdir(mode=0o700, parents=True, exist_ok=True)
    offset = target.log.stat().st_size if target.log.exists() else 0
    proc, ready_fd = _spawn_daemon(target)
    outcome = "interrupted"
    try:
        outcome = _wait_ready(ready_fd, args.timeout)
    finally:
        os.close(ready_fd)
        if outcome != "ready":
            _give_up(proc)
    if outcome == "ready":
        print(f"started (pid {proc.pid}), run dir {target.rundir}")
        return 0
    what = (
        f"exited with code {proc.returncode}"
        if outcome == "exited"
        else f"was not ready within {args.timeout:g}s and was stopped"
    )
    raise CliError(f"the app {what}; last lines of {target.log}:\n{_tail(target.log, offset)}")


def _spawn_daemon(target: Target) -> tuple[subprocess.Popen[bytes], int]:
    read_fd, write_fd = os.pipe()
    argv = [sys.executable, "-m", "hubcore.cli", "dev", str(target.procfile)]
    argv += ["--rundir", str(target.rundir), "--ready-fd", str(write_fd)]
    try:
        with target.log.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in this terminal must not reach it
                pass_fds=(write_fd,),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)  # only the daemon holds it now: its death closes the pipe
    return proc, read_fd


def _wait_ready(fd: int, timeout: float) -> str:
    """``ready``, ``exited`` (the pipe closed first) or ``timeout``."""
    deadline = time.monotonic() + timeout
    received = b""
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([fd], [], [], left)
        if not readable:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            return "exited"
        received += chunk
        if b"ready\n" in received:
            return "ready"
    return "timeout"


def _give_up(proc: subprocess.Popen[bytes]) -> None:
    """Reap a daemon that died, or stop one that did not get ready (SIGKILL if it lingers)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its workers die with it (parent-death signal)
        proc.wait(STOP_GRACE)


def _tail(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            lines = deque(f, maxlen=TAIL_LINES)
    except OSError:
        return "  (no output)"
    text = b"".join(lines).decode("utf-8", errors="replace").rstrip()
    return "\n".join(f"  {line}" for line in text.splitlines()) or "  (no output)"


# --- stop -------------------------------------------------------------------------------------


def run_stop(args: argparse.Namespace) -> int:
    """SIGTERM the app's supervisor process and wait for it to exit."""
    target = target_of(args.app, args.rundir)
    target.require_procfile()
    proc = running_supervisor(target)
    if proc is None:
        raise not_running(target)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    if not _wait_gone(proc, args.timeout):
        raise CliError(
            f"the app (pid {proc.pid}) is still stopping after {args.timeout:g}s; wait with "
            f"`hubcore stop` again, or force it with `kill -INT {proc.pid}`"
        )
    print(f"stopped (pid {proc.pid}) in {time.monotonic() - started:.1f}s")
    return 0


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    """Wait for a process that is not our child; a zombie counts as gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc.wait(min(_WAIT_STEP, max(deadline - time.monotonic(), 0.0)))
            return True
        except psutil.TimeoutExpired:
            pass
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:  # its parent has yet to reap it
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
