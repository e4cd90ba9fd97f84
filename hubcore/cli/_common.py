"""What every command shares: finding the app and its run directory, connecting, tables.

How commands find an app: ``--app PATH`` (a procfile.py or its folder) names the procfile; the
run directory is ``default_rundir(procfile)`` (per user, per procfile path) unless ``--rundir``
says otherwise. ``hubcore dev`` writes ``supervisor.pid``, ``hub.sock``, ``token``, ``app.json``,
``pids.json`` and ``app.log`` there, and every other command reads them.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import psutil

from hubcore._api import connect
from hubcore._app import PID_FILE, default_rundir
from hubcore._client import Client
from hubcore._errors import ConnectionLost

__all__ = (
    "LOG_FILE",
    "CliError",
    "Subparsers",
    "Target",
    "add_command",
    "connect_app",
    "format_table",
    "human_duration",
    "not_running",
    "running_supervisor",
    "same_process",
    "target_of",
)

LOG_FILE = "app.log"
DEFAULT_PROCFILE = "procfile.py"
APP_HELP = "the app's procfile.py, or a folder holding one (default: ./procfile.py)"
RUNDIR_HELP = "the app's run directory (default: derived from the procfile's path)"
# psutil's create_time has clock-tick resolution; a pid file is written just after its process
# started, so a process created later than this after the file is a recycled pid.
_CREATE_SLACK = 1.0


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CliError(Exception):
    """A failure to report as one line on stderr, with this exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    """The app a command acts on: its procfile and its run directory."""

    procfile: Path
    rundir: Path
    rundir_given: bool = False

    @property
    def log(self) -> Path:
        """The app's output log, ``<rundir>/app.log``."""
        return self.rundir / LOG_FILE

    def require_procfile(self) -> None:
        """Without ``--rundir``, the run directory comes from the procfile: it must exist.

        :raises CliError: no procfile there.
        """
        if not self.rundir_given and not self.procfile.is_file():
            raise CliError(
                f"no procfile at {self.procfile}: pass --app PATH (a procfile.py or its folder) "
                "or --rundir DIR"
            )


def target_of(app: str, rundir: str | None) -> Target:
    """Resolve a procfile argument (file or folder) and the run directory it uses."""
    path = Path(app).expanduser().absolute()
    if path.is_dir():
        path = path / DEFAULT_PROCFILE
    if rundir:
        return Target(path, Path(rundir).expanduser().absolute(), rundir_given=True)
    return Target(path, default_rundir(path))


def not_running(target: Target) -> CliError:
    """The error every command gives when no app answers in the run directory."""
    return CliError(
        f"no app running for {target.procfile} (run dir {target.rundir}); "
        "start it with `hubcore dev` or `hubcore start`"
    )


def same_process(proc: psutil.Process, started_before: float) -> bool:
    """Whether ``proc`` existed at ``started_before`` (epoch seconds): not a recycled pid."""
    try:
        return proc.create_time() <= started_before + _CREATE_SLACK
    except psutil.Error:
        return False


def running_supervisor(target: Target) -> psutil.Process | None:
    """The live process that runs the app (from ``supervisor.pid``), or ``None``."""
    pidfile = target.rundir / PID_FILE
    try:
        pid = int(pidfile.read_text().strip())
        written = pidfile.stat().st_mtime
        proc = psutil.Process(pid)
        alive = proc.status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, psutil.Error):
        return None
    return proc if alive and same_process(proc, written) else None


@asynccontextmanager
async def connect_app(target: Target) -> AsyncIterator[Client]:
    """A hub client of the app in ``target.rundir``.

    :raises CliError: no hub answers there (no app running).
    """
    async with AsyncExitStack() as stack:
        try:
            token = (target.rundir / "token").read_bytes()
            client = await stack.enter_async_context(
                connect(str(target.rundir / "hub.sock"), token=token, process="cli")
            )
        except (OSError, ConnectionLost) as exc:
            raise not_running(target) from exc
        yield client


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(line.rstrip() for line in lines)


def human_duration(seconds: float | None) -> str:
    """``42s``, ``3m12s``, ``2h05m``, ``3d04h``; ``-`` for None."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def add_command(
    sub: Subparsers, name: str, summary: str, example: str, *, details: str = "", app: bool = True
) -> argparse.ArgumentParser:
    """Add a subcommand whose ``--help`` gives a summary, details and an example.

    :param app: add ``--app PATH``; ``dev``/``start`` take the procfile positionally.
    """
    parser = sub.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\n{textwrap.dedent(details).strip()}".strip(),
        epilog="Example:\n" + textwrap.indent(textwrap.dedent(example).strip(), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if app:
        parser.add_argument("--app", metavar="PATH", default=DEFAULT_PROCFILE, help=APP_HELP)
    parser.add_argument("--rundir", metavar="DIR", help=RUNDIR_HELP)
    return parser
