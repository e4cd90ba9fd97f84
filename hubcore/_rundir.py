"""Where a procfile app keeps its files, and whether an app runs there.

How it works: an app's run directory is derived from its procfile's absolute path, per user
(under ``$XDG_RUNTIME_DIR``, else ``<tmp>/hubcore-<uid>``), so every process that names the
same procfile finds the same hub: ``hubcore dev``/``start``, the CLI's other commands,
``hubcore env`` and ``hubcore.connect(app=...)``. The process that runs the app writes its pid
to ``supervisor.pid`` once the hub listens, and removes it after the hub (its socket and token
file included) is gone. So an app runs there when that pid is alive, is the process that wrote
the file (not a recycled pid), and the socket and token file exist.

This module loads no procfile and starts nothing: importing it is cheap for a client.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from hubcore._errors import HubError

if TYPE_CHECKING:
    import psutil

__all__ = (
    "DEFAULT_PROCFILE",
    "HUB_SOCKET",
    "PID_FILE",
    "SPEC_FILE",
    "TOKEN_FILE",
    "app_rundir",
    "find_app",
    "not_running_message",
    "procfile_path",
    "require_running",
    "running_supervisor",
    "same_process",
)

HUB_SOCKET = "hub.sock"  # the hub's socket in a run directory
TOKEN_FILE = "token"  # beside the socket: the hub's token
PID_FILE = "supervisor.pid"
SPEC_FILE = "app.json"
DEFAULT_PROCFILE = "procfile.py"
# psutil's create_time has clock-tick resolution; a pid file is written just after its process
# started, so a process created later than this after the file is a recycled pid.
_CREATE_SLACK = 1.0


def procfile_path(app: str | os.PathLike[str]) -> Path:
    """A procfile argument (a ``procfile.py``, or the folder holding one) as an absolute path."""
    path = Path(app).expanduser().absolute()
    return path / DEFAULT_PROCFILE if path.is_dir() else path


def app_rundir(procfile: str | os.PathLike[str]) -> Path:
    """The default run directory of the app of ``procfile``: per user, per procfile path.

    It is where ``hubcore dev``/``hubcore start`` and :class:`hubcore.App` put the hub's socket
    and token unless told otherwise. The procfile need not exist.

    :param procfile: a ``procfile.py``, or the folder holding one.
    :return: ``$XDG_RUNTIME_DIR/<folder>-<hash>``, or ``<tmp>/hubcore-<uid>/<folder>-<hash>``.
    """
    import hashlib  # here: the command that is given --rundir never needs them
    import tempfile

    resolved = procfile_path(procfile).resolve()
    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(
        tempfile.gettempdir(), f"hubcore-{os.getuid()}"
    )
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    return Path(base) / f"{resolved.parent.name[:20]}-{digest}"


def same_process(proc: psutil.Process, started_before: float) -> bool:
    """Whether ``proc`` existed at ``started_before`` (epoch seconds): not a recycled pid."""
    import psutil  # lazily: a client that never looks for an app does not pay for it

    try:
        return proc.create_time() <= started_before + _CREATE_SLACK
    except psutil.Error:
        return False


def running_supervisor(rundir: Path) -> psutil.Process | None:
    """The live process that runs the app in ``rundir`` (from ``supervisor.pid``), or ``None``."""
    import psutil

    pidfile = rundir / PID_FILE
    try:
        pid = int(pidfile.read_text().strip())
        written = pidfile.stat().st_mtime
        proc = psutil.Process(pid)
        alive = proc.status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, psutil.Error):
        return None
    return proc if alive and same_process(proc, written) else None


def not_running_message(procfile: Path, rundir: Path) -> str:
    """What to say when no app runs in ``rundir``: which procfile, which run dir, what to do."""
    command = shlex.quote(str(procfile))
    if rundir != app_rundir(procfile):
        command += f" --rundir {shlex.quote(str(rundir))}"
    return (
        f"no app running for {procfile} (run dir {rundir}): start it with "
        f"`hubcore start {command}` (or `hubcore dev {command}` in a terminal)"
    )


def require_running(procfile: Path, rundir: Path) -> None:
    """:raises HubError: no app runs in ``rundir`` (the message says how to start one)."""
    files = (rundir / HUB_SOCKET, rundir / TOKEN_FILE)
    if running_supervisor(rundir) is None or not all(f.exists() for f in files):
        raise HubError(not_running_message(procfile, rundir))


def find_app(app: str | os.PathLike[str]) -> tuple[str, bytes]:
    """The hub address and token of the app running for the procfile ``app``.

    :param app: a ``procfile.py``, or the folder holding one.
    :raises HubError: no procfile there, or no app runs for it (the message says how to start
        one).
    """
    procfile = procfile_path(app)
    rundir = app_rundir(procfile)
    try:
        require_running(procfile, rundir)
        token = (rundir / TOKEN_FILE).read_bytes().strip()
    except (HubError, OSError):  # OSError: the app stopped between the check and the read
        if not procfile.is_file():
            raise HubError(
                f"no procfile at {procfile}: pass app= a procfile.py, or the folder holding one"
            ) from None
        raise HubError(not_running_message(procfile, rundir)) from None
    return str(rundir / HUB_SOCKET), token
