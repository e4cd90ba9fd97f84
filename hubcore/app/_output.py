"""What supervised processes print, and the supervisor's own notices: records, callback, echo.

How it works: :meth:`Output.pump` reads one pipe of a child (stdout or stderr) and cuts it into
lines. Each line goes, in order, into the record's ``log`` (and ``stderr_tail`` for stderr), to
the ``on_log`` callback, to the echo stream as ``"<label> | <line>"`` (the label coloured when
asked), and wakes the supervisor's waiters. :meth:`Output.announce` puts a supervisor notice
("restarting in 0.20s", "crash loop") on the ``hubcore.supervisor`` logger and the echo stream.

A line is cut into pieces once more than ``MAX_LINE`` bytes of it are pending, so a child that
never prints a newline cannot make the supervisor buffer without bound. Invalid UTF-8 is
replaced, never fatal. Writing to the echo stream is best effort: a closed stream loses the
echo, not the record.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Callable
from typing import Any, TextIO

import anyio
import anyio.abc

from hubcore._changes import Changes
from hubcore.app._records import ProcessRecord

__all__ = ("ECHOED", "MAX_LINE", "LogCallback", "Output", "guarded", "isatty")

logger = logging.getLogger("hubcore.supervisor")

MAX_LINE = 64 * 1024
#: Set (true) on the log records of notices that :meth:`Output.announce` also echoed, so that
#: a handler writing to the same stream can skip them.
ECHOED = "hubcore_echoed"
_COLOURS = (36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91)

LogCallback = Callable[[ProcessRecord, str, str], None]


class Output:
    """Where the lines of supervised processes and the supervisor's notices go."""

    def __init__(
        self,
        *,
        on_log: LogCallback | None,
        log_stream: TextIO | None,
        color: bool,
        changes: Changes,
    ) -> None:
        """Route lines to records, ``on_log`` and ``log_stream``; notify ``changes`` for each.

        :param on_log: called with (record, ``"stdout"``/``"stderr"``, line); errors are logged.
        :param log_stream: where lines and notices are echoed; ``None``: nowhere.
        :param color: colour the labels on ``log_stream`` (ANSI escapes).
        :param changes: notified after every line.
        """
        self._on_log = on_log
        self._log_stream = log_stream
        self._color = color
        self._changes = changes

    async def pump(
        self, record: ProcessRecord, stream: anyio.abc.ByteReceiveStream | None, name: str
    ) -> None:
        """Read ``stream`` to its end, handing each line to :meth:`line`.

        :param record: the process the stream belongs to.
        :param stream: its stdout or stderr pipe; ``None`` returns at once.
        :param name: ``"stdout"`` or ``"stderr"``.
        """
        if stream is None:
            return
        pending = b""
        try:
            async for chunk in stream:
                *lines, pending = (pending + chunk).split(b"\n")
                if len(pending) > MAX_LINE:
                    lines.append(pending)
                    pending = b""
                for raw in lines:
                    self.line(record, name, raw)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        if pending:
            self.line(record, name, pending)  # a last line without its newline

    def line(self, record: ProcessRecord, stream: str, raw: bytes) -> None:
        """Record, report and echo one line of output (without its newline).

        :param record: the process that printed it.
        :param stream: ``"stdout"`` or ``"stderr"``.
        :param raw: the bytes of the line.
        """
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        record.log.append(line)
        if stream == "stderr":
            record.stderr_tail.append(line)
        guarded(self._on_log, record, stream, line)
        self._echo(record.label, line)
        self._changes.notify()

    def announce(self, record: ProcessRecord, level: int, message: str) -> None:
        """Log a supervisor notice about a process, and echo it as ``[supervisor] message``.

        :param record: the process it is about.
        :param level: the logging level.
        :param message: the notice.
        """
        logger.log(level, "%s: %s", record.label, message, extra={ECHOED: True})
        self._echo(record.label, f"[supervisor] {message}")

    def _echo(self, label: str, line: str) -> None:
        if self._log_stream is None:
            return
        prefix = f"{label:<14}"
        if self._color:
            colour = _COLOURS[zlib.crc32(label.encode()) % len(_COLOURS)]
            prefix = f"\x1b[{colour}m{prefix}\x1b[0m"
        with contextlib.suppress(OSError, ValueError):  # a closed stream: echo is best effort
            self._log_stream.write(f"{prefix} | {line}\n")


def guarded(callback: Callable[..., None] | None, *args: Any) -> None:
    """Call a user callback; one that raises is logged and ignored, never fatal."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        logger.exception("supervisor callback %r failed; ignored", callback)


def isatty(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal (a closed or odd stream is not)."""
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False
