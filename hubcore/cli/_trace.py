"""``hubcore trace view`` (a trace file as a page that draws it) and the recorder behind
``hubcore dev --trace`` (an app's calls, drained every second, written when it stops).

The trace code is imported when a trace is asked for, never by the other commands.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from hubcore._errors import HubError, reason
from hubcore.cli._common import CliError, Subparsers, add_command

if TYPE_CHECKING:
    from hubcore.app._app import App

__all__ = ("DRAIN_INTERVAL", "TraceRecorder", "add_parser", "trace_file")

DRAIN_INTERVAL = 1.0  # seconds: each process keeps its last 10,000 calls between drains
FINAL_DRAIN = 5.0  # seconds the last drain may take, as the app stops

log = logging.getLogger("hubcore.cli")


def add_parser(sub: Subparsers) -> None:
    """Register ``trace`` and its action ``view``."""
    parser = add_command(
        sub,
        "trace",
        "Turn a trace of cross-process calls into a page that draws it.",
        "hubcore trace view trace.json -o trace.html",
        details="""
        A trace is Chrome trace-event JSON, as `pytest --hub-trace=FILE` and
        `hubcore dev --trace FILE` write it (Perfetto and chrome://tracing open it too).
        `view` writes one HTML file with everything inline, the trace included: open it in
        any browser, offline. It draws a lane per process, the calls as slices, arrows from
        caller to callee, and the tests (failed ones in red).
        """,
        app=False,
        rundir=False,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    view = actions.add_parser(
        "view",
        help="write the page of a trace file",
        description="Write one self-contained HTML page that draws a trace file.",
    )
    view.add_argument("file", help="the trace (Chrome trace-event JSON)")
    view.add_argument(
        "-o", "--output", metavar="HTML", help="the page to write (default: FILE with .html)"
    )
    view.set_defaults(func=run_view)


def run_view(args: argparse.Namespace) -> int:
    """Write the page; say where it is."""
    from hubcore.trace import write_html

    if not Path(args.file).is_file():
        raise CliError(f"no trace file at {args.file}")
    try:
        page = write_html(args.file, args.output)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(f"hubcore: wrote {page}: open it in a browser (it needs no network)")
    return 0


def trace_file(value: str | None) -> Path | None:
    """The file ``--trace`` names, checked before anything starts.

    :raises CliError: its folder does not exist.
    """
    if value is None:
        return None
    path = Path(value).expanduser().absolute()
    if not path.parent.is_dir():
        raise CliError(
            f"--trace {value}: the folder {path.parent} does not exist; create it or give a "
            "path in an existing folder"
        )
    return path


class TraceRecorder:
    """Drains an app's call records into a trace while it runs; writes the file at the end.

    The app must trace (``App(trace=True)``). :meth:`run` drains every ``interval`` seconds
    until :meth:`finish`, which drains once more (the app still running) and writes.
    """

    def __init__(
        self, path: Path, say: Callable[[str], None], interval: float = DRAIN_INTERVAL
    ) -> None:
        from hubcore.trace import Trace

        self.path = path
        self.trace = Trace()
        self._say = say
        self._interval = interval
        self._scope = anyio.CancelScope()
        self._draining = False
        self._stopped = anyio.Event()

    async def run(self, app: App) -> None:
        """Drain every interval until :meth:`finish`."""
        self._draining = True
        try:
            with self._scope:
                while True:
                    await anyio.sleep(self._interval)
                    # Never cancelled half way: the processes forget what they hand over.
                    with anyio.CancelScope(shield=True):
                        await self._drain(app)
        finally:
            self._stopped.set()

    async def finish(self, app: App) -> None:
        """Stop draining (a drain under way ends first), drain the last calls, and write."""
        self._scope.cancel()
        with anyio.CancelScope(shield=True), anyio.move_on_after(FINAL_DRAIN):
            if self._draining:
                await self._stopped.wait()
            await self._drain(app)
        try:
            self.trace.write(self.path)
        except OSError as exc:
            self._say(f"hubcore: could not write the trace to {self.path}: {reason(exc)}")
            return
        self._say(
            f"hubcore: trace of {len(self.trace)} cross-process calls written to {self.path} "
            f"(view: hubcore trace view {self.path})"
        )

    async def _drain(self, app: App) -> None:
        try:
            self.trace.add_calls(await app.drain_calls())
        except HubError as exc:  # not booted, or stopping: nothing to drain
            log.debug("no calls drained: %s", reason(exc))
