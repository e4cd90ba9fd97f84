"""``hubcore dev``: run an app in the foreground until Ctrl-C.

How it works: the procfile is loaded first (a mistake is one error line, nothing starts), then
an :class:`~hubcore.App` boots under anyio with a signal receiver beside it. The supervisor
writes every output line to a :class:`LogTee`: the terminal (coloured if it is one) and
``<rundir>/app.log`` (never coloured), which ``hubcore logs`` reads.

Signals: the first SIGINT/SIGTERM asks for a graceful stop (services' ``stop()``, then SIGTERM,
then SIGKILL after the grace period), also in the middle of the boot. A second SIGINT during
that stop forces it: every process tree of the app is SIGKILLed, the exit code is 130, and if
the stop still has not finished a few seconds later the process exits anyway.

``--ready-fd`` is how ``hubcore start`` learns that its daemon is ready: ``ready`` is written
to that pipe, then it is closed; the pipe closing without it means the daemon died.

``--trace FILE`` makes every process record the calls it makes (``App(trace=True)``); a
:class:`~hubcore.cli._trace.TraceRecorder` drains them every second and writes the trace when
the app stops, before its processes do. Without it nothing is recorded.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager, suppress
from pathlib import Path
from typing import TextIO, cast

import anyio
import anyio.abc
import psutil

from hubcore._errors import BootFailed, HubError, reason
from hubcore.app._app import App
from hubcore.app._output import ECHOED
from hubcore.app._procfile import load_procfile
from hubcore.app._spec import AppSpec
from hubcore.app._supervisor import ProcessState, kill_tree
from hubcore.cli._common import (
    CliError,
    Subparsers,
    Target,
    add_command,
    running_supervisor,
    target_of,
)

__all__ = ("LogTee", "add_parser", "force_kill", "refuse_if_running")

FORCE_EXIT_SECONDS = 5.0
EXIT_FORCED = 130
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LIVE = (ProcessState.STARTING, ProcessState.RUNNING, ProcessState.STOPPING)


def add_parser(sub: Subparsers) -> None:
    """Register ``dev``."""
    parser = add_command(
        sub,
        "dev",
        "Run an app in the foreground until Ctrl-C.",
        "hubcore dev myapp/procfile.py",
        details="""
        Every line of output is printed prefixed by its process (and appended to
        <rundir>/app.log). Ctrl-C stops the app gracefully: services' stop() run, then
        every process tree is ended. A second Ctrl-C kills every process at once (exit 130).
        """,
        app=False,
    )
    parser.add_argument("procfile", nargs="?", default="procfile.py", help="procfile or folder")
    parser.add_argument(
        "--boot-timeout", type=float, default=30.0, metavar="S", help="seconds (default 30)"
    )
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="record every cross-process call and write them to FILE when the app stops "
        "(Chrome trace-event JSON: hubcore trace view FILE, Perfetto, chrome://tracing)",
    )
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Boot the app, serve until a signal, stop it; the exit code."""
    target = target_of(args.procfile, args.rundir)
    spec = load_procfile(target.procfile)
    trace = trace_file(getattr(args, "trace", None))
    refuse_if_running(target)
    target.rundir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with LogTee.open(sys.stdout, target) as tee, _warnings_to(tee):
        return anyio.run(_main, target, tee, args.ready_fd, spec, args.boot_timeout, trace)


async def _main(
    target: Target,
    out: TextIO,
    ready_fd: int | None,
    spec: AppSpec,
    boot_timeout: float,
    trace: Path | None,
) -> int:
    return await _DevRun(target, out, ready_fd, trace).supervise(spec, boot_timeout)


def trace_file(value: str | None) -> Path | None:
    """The file of ``--trace``, checked before anything starts (the trace code loads only
    when one is asked for)."""
    if value is None:
        return None
    from hubcore.cli._trace import trace_file as checked

    return checked(value)


def refuse_if_running(target: Target) -> None:
    """:raises CliError: an app already runs in the target's run directory."""
    proc = running_supervisor(target)
    if proc is not None:
        raise CliError(
            f"an app is already running for {target.procfile} (pid {proc.pid}, run dir "
            f"{target.rundir}); stop it first with `hubcore stop`"
        )


class LogTee:
    """A text stream for the supervisor: the terminal as is, and app.log without colours.

    ``isatty()`` mirrors the terminal's, so the supervisor colours labels only for a terminal.
    Every write is flushed: a reader (``hubcore logs -f``, a test) sees lines as they come.
    """

    def __init__(self, out: TextIO, file: TextIO | None) -> None:
        self._out = out
        self._file = file

    @classmethod
    @contextmanager
    def open(cls, out: TextIO, target: Target) -> Iterator[TextIO]:
        """A tee to ``out`` and ``target.log``; just ``out`` when that already is the log."""
        if _same_file(out, target):  # `hubcore start` points our stdout at app.log
            yield cast(TextIO, cls(out, None))  # duck-typed: write/flush/isatty is all it needs
            return
        with target.log.open("a", encoding="utf-8") as file:
            yield cast(TextIO, cls(out, file))

    def write(self, text: str) -> int:
        """Write to both (the file first: a closed terminal must not cost the log)."""
        if self._file is not None:
            self._file.write(_ANSI.sub("", text))
            self._file.flush()
        self._out.write(text)
        self._out.flush()
        return len(text)

    def flush(self) -> None:
        """Everything is flushed as it is written."""

    def isatty(self) -> bool:
        """Whether the terminal side is a terminal."""
        return self._out.isatty()


def _same_file(out: TextIO, target: Target) -> bool:
    try:
        return os.path.samestat(os.fstat(out.fileno()), target.log.stat())
    except (OSError, ValueError):
        return False


class _SkipAnnounced(logging.Filter):
    """The supervisor both logs and echoes restart notices; the echo is enough here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, ECHOED, False)


@contextmanager
def _warnings_to(stream: TextIO) -> Iterator[None]:
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("hubcore: %(levelname)s: %(message)s"))
    handler.addFilter(_SkipAnnounced())
    logger = logging.getLogger("hubcore")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


class _DevRun:
    """One foreground run: boot, wait for a signal, stop (or force)."""

    def __init__(
        self, target: Target, out: TextIO, ready_fd: int | None, trace: Path | None = None
    ) -> None:
        self.target = target
        self.out = out
        self.ready_fd = ready_fd
        self.trace = trace
        self.app: App | None = None
        self.forced = False
        self.stop_requested = anyio.Event()
        self.boot_scope = anyio.CancelScope()  # a signal during the boot cancels the wait

    def say(self, line: str) -> None:
        """A line of our own, to the terminal and the log."""
        with suppress(OSError, ValueError):
            self.out.write(line + "\n")

    async def supervise(self, spec: AppSpec, boot_timeout: float) -> int:
        """Run the app beside a signal watcher; errors are re-raised outside the task group."""
        error: Exception | None = None
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch, signals)
                try:
                    await self._serve(spec, boot_timeout, tg)
                except Exception as exc:  # raised below, not as an ExceptionGroup
                    error = exc
                tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return EXIT_FORCED if self.forced else 0

    async def _serve(self, spec: AppSpec, boot_timeout: float, tg: anyio.abc.TaskGroup) -> None:
        started = time.monotonic()
        app = App(
            spec,
            rundir=self.target.rundir,
            log_stream=self.out,
            boot_timeout=boot_timeout,
            trace=self.trace is not None,
        )
        self.app = app
        async with AsyncExitStack() as stack:
            # Not `async with app`, which waits for readiness inside its __aenter__: booting in
            # two steps lets a signal cancel just that wait, and a boot failure become one
            # line pointing at the output above.
            stack.push_async_callback(app.aclose)
            if self.trace is not None:
                from hubcore.cli._trace import TraceRecorder

                recorder = TraceRecorder(self.trace, self.say)
                stack.push_async_callback(recorder.finish, app)  # before the app stops
                tg.start_soon(recorder.run, app)
            await app.boot()
            with self.boot_scope:
                await _wait_ready(app)
            if not self.boot_scope.cancelled_caught:
                self._ready(app, started)
                await self.stop_requested.wait()
            stopping = time.monotonic()
        self.say(f"hubcore: stopped in {(time.monotonic() - stopping) * 1000:.0f} ms")

    def _ready(self, app: App, started: float) -> None:
        n = len(app.processes)
        ms = (time.monotonic() - started) * 1000
        noun = "process" if n == 1 else "processes"
        self.say(f"hubcore: {n} {noun} ready in {ms:.0f} ms (run dir {app.rundir})")
        if self.ready_fd is not None:
            with suppress(OSError):  # `hubcore start` gave up waiting: nothing to tell
                os.write(self.ready_fd, b"ready\n")
            with suppress(OSError):
                os.close(self.ready_fd)
            self.ready_fd = None

    async def _watch(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            if not self.stop_requested.is_set():
                self.say(f"hubcore: {signal.Signals(signum).name}: stopping (Ctrl-C to force)")
                self.stop_requested.set()
                self.boot_scope.cancel()
            elif signum == signal.SIGINT and not self.forced:
                self.forced = True
                killed = force_kill(self.app)
                self.say(f"hubcore: forced: killed {len(killed)} process(es)")
                _exit_later(self.out)


def _exit_later(out: TextIO) -> None:
    """Exit anyway if the forced stop is still not over in a few seconds (it is bounded)."""

    def leave() -> None:
        with suppress(OSError, ValueError):
            out.write(f"hubcore: still stopping {FORCE_EXIT_SECONDS:g}s after the kill; exit\n")
        os._exit(EXIT_FORCED)

    timer = threading.Timer(FORCE_EXIT_SECONDS, leave)
    timer.daemon = True  # a normal exit before then does not wait for it
    timer.start()


def force_kill(app: App | None) -> list[int]:
    """SIGKILL the whole tree of every live process of ``app``; the pids signalled."""
    if app is None or app.supervisor is None:
        return []
    killed: list[int] = []
    for record in app.supervisor.records.values():
        if record.pid is None or record.started_at is None or record.state not in _LIVE:
            continue
        try:
            proc = psutil.Process(record.pid)
            # Our own child: its pid cannot be reused before we reap it, but the record can
            # lag a reap by a moment, so check it is still the process we started.
            if proc.create_time() > record.started_at + 1.0:
                continue
        except psutil.Error:
            continue
        killed += kill_tree(record.pid)
    return killed


async def _wait_ready(app: App) -> None:
    try:
        await app.ready(app.boot_timeout)
    except BootFailed as exc:
        # The traceback (or the failed process's last lines) is already in the output above,
        # labelled with its process: the worker printed it on its stderr, which is echoed.
        what = "traceback" if exc.service else "output"
        first = str(exc).splitlines()[0]
        raise CliError(f"{first} (its {what} is above)") from exc
    except TimeoutError as exc:
        if isinstance(exc, HubError):
            raise
        raise CliError(f"{reason(exc)}; see the output above, or raise --boot-timeout") from exc
