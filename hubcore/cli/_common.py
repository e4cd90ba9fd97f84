"""What every command shares: finding the app and its run directory, connecting, tables.

How commands find an app: ``--app PATH`` (a procfile.py or its folder) names the procfile; the
run directory is ``app_rundir(procfile)`` (per user, per procfile path: ``hubcore._rundir``)
unless ``--rundir`` says otherwise. ``hubcore dev`` writes ``supervisor.pid``, ``hub.sock``,
``token``, ``app.json``, ``pids.json`` and ``app.log`` there, and every other command reads
them.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from hubcore import _rundir
from hubcore._errors import ConnectionLost, unknown_name
from hubcore._rundir import DEFAULT_PROCFILE, HUB_SOCKET, TOKEN_FILE, app_rundir, same_process

if TYPE_CHECKING:
    import psutil

    from hubcore.client._client import Client
    from hubcore.client._hubview import HubView

__all__ = (
    "LOG_FILE",
    "CliError",
    "Subparsers",
    "Target",
    "add_command",
    "connect_app",
    "format_table",
    "hub_view",
    "human_duration",
    "not_running",
    "running_supervisor",
    "same_process",
    "target_of",
    "unknown_process",
)

LOG_FILE = "app.log"
APP_HELP = "the app's procfile.py, or a folder holding one (default: ./procfile.py)"
RUNDIR_HELP = "the app's run directory (default: derived from the procfile's path)"


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CliError(Exception):
    """A failure to report as one line on stderr, with this exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def unknown_process(process: str, known: Sequence[str]) -> str:
    """The error for a process (``worker`` or ``worker.1``) that the app does not have."""
    name = process.rpartition(".")[0] if process.rpartition(".")[2].isdigit() else process
    head = f"no process {process!r} in the app"
    return unknown_name(head, name, known, f"processes: {', '.join(known)}")


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
    path = _rundir.procfile_path(app)
    if rundir:
        return Target(path, Path(rundir).expanduser().absolute(), rundir_given=True)
    return Target(path, app_rundir(path))


def not_running(target: Target) -> CliError:
    """The error every command gives when no app answers in the run directory."""
    return CliError(_rundir.not_running_message(target.procfile, target.rundir))


def running_supervisor(target: Target) -> psutil.Process | None:
    """The live process that runs the app (from ``supervisor.pid``), or ``None``."""
    return _rundir.running_supervisor(target.rundir)


@contextmanager
def hub_view(target: Target) -> Iterator[HubView]:
    """A blocking connection to the hub of the app in ``target.rundir``: no event loop.

    :raises CliError: no hub answers there (no app running).
    """
    from hubcore.client._hubview import HubView  # here: `hubcore --help` needs no client

    try:
        token = (target.rundir / TOKEN_FILE).read_bytes().strip()
        view = HubView.open(str(target.rundir / HUB_SOCKET), token, process="cli")
    except (OSError, ConnectionLost) as exc:
        raise not_running(target) from exc
    with view:
        yield view


@asynccontextmanager
async def connect_app(target: Target) -> AsyncIterator[Client]:
    """A hub client of the app in ``target.rundir`` (for what needs an event loop: streams).

    :raises CliError: no hub answers there (no app running).
    """
    from hubcore.client._api import connect

    async with AsyncExitStack() as stack:
        try:
            token = (target.rundir / TOKEN_FILE).read_bytes()
            client = await stack.enter_async_context(
                connect(
                    str(target.rundir / HUB_SOCKET), token=token, process="cli", reconnect=False
                )
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
    sub: Subparsers,
    name: str,
    summary: str,
    example: str,
    *,
    details: str = "",
    app: bool = True,
    rundir: bool = True,
) -> argparse.ArgumentParser:
    """Add a subcommand whose ``--help`` gives a summary, details and an example.

    :param app: add ``--app PATH``; ``dev``/``start`` take the procfile positionally.
    :param rundir: add ``--rundir DIR`` (every command about an app).
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
    if rundir:
        parser.add_argument("--rundir", metavar="DIR", help=RUNDIR_HELP)
    return parser
