"""Output of supervised processes: lines cut from pipe chunks, records, callback and echo.

The pipes are scripted byte streams; no process runs.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable

import anyio
import anyio.abc
import pytest

from hubcore._changes import Changes
from hubcore.app._output import MAX_LINE, Output
from hubcore.app._records import ProcessRecord, ProcessTemplate
from hubcore.cli._dev import _warnings_to

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Chunks(anyio.abc.ByteReceiveStream):
    """A pipe that delivers these chunks, then ends."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = list(chunks)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        await anyio.lowlevel.checkpoint()
        if not self._chunks:
            raise anyio.EndOfStream
        return self._chunks.pop(0)

    async def aclose(self) -> None:
        self._chunks = []


def record() -> ProcessRecord:
    return ProcessRecord(ProcessTemplate("web", 0, ("true",), {}))


class Seen:
    """An Output with everything it reports kept for the test."""

    def __init__(self, *, color: bool = False) -> None:
        self.echo = io.StringIO()
        self.lines: list[tuple[str, str, str]] = []
        self.output = Output(
            on_log=lambda rec, stream, line: self.lines.append((rec.label, stream, line)),
            log_stream=self.echo,
            color=color,
            changes=Changes(),
        )


async def test_output_pump_cuts_chunks_into_lines() -> None:
    seen, rec = Seen(), record()
    chunks = [b"hel", b"lo\nwor", b"ld\r\n\n", b"no newline at the end"]
    await seen.output.pump(rec, Chunks(chunks), "stdout")
    assert list(rec.log) == ["hello", "world", "", "no newline at the end"]
    assert list(rec.stderr_tail) == []
    assert [line for _, stream, line in seen.lines if stream == "stdout"] == list(rec.log)
    assert seen.echo.getvalue().splitlines()[0] == f"{'web.0':<14} | hello"


async def test_output_pump_stderr_fills_the_stderr_tail_and_replaces_bad_utf8() -> None:
    seen, rec = Seen(), record()
    await seen.output.pump(rec, Chunks([b"Traceback\n", b"fatal: \xff"]), "stderr")
    assert list(rec.stderr_tail) == ["Traceback", "fatal: \ufffd"]
    assert seen.lines == [("web.0", "stderr", "Traceback"), ("web.0", "stderr", "fatal: \ufffd")]


async def test_output_pump_cuts_a_line_longer_than_max_line() -> None:
    """A child that never prints a newline: its output is cut into pieces, never buffered
    whole; a piece is at most MAX_LINE bytes plus one chunk."""
    seen, rec = Seen(), record()
    chunk = 40 * 1024
    await seen.output.pump(rec, Chunks([b"x" * chunk] * 4 + [b"\nshort\n"]), "stdout")
    *pieces, last = rec.log
    assert "".join(pieces) == "x" * (4 * chunk)
    assert len(pieces) >= 2
    assert all(len(piece) <= MAX_LINE + chunk for piece in pieces)
    assert last == "short"


async def test_output_pump_without_a_stream_returns() -> None:
    seen, rec = Seen(), record()
    await seen.output.pump(rec, None, "stdout")
    assert list(rec.log) == []


def test_output_colours_the_label_the_same_each_time() -> None:
    seen, rec = Seen(color=True), record()
    seen.output.line(rec, "stdout", b"one")
    seen.output.line(rec, "stdout", b"two")
    first, second = seen.echo.getvalue().splitlines()
    assert first.startswith("\x1b[")
    assert first.endswith(f"{'web.0':<14}\x1b[0m | one")
    assert first.split("m", 1)[0] == second.split("m", 1)[0]


def test_output_line_wakes_the_waiters() -> None:
    changes = Changes()
    woken: list[str] = []
    changes.notify = lambda: woken.append("notified")  # type: ignore[method-assign]
    output = Output(on_log=None, log_stream=None, color=False, changes=changes)
    output.line(record(), "stdout", b"line")
    assert woken == ["notified"]


def test_output_survives_a_failing_callback_and_a_closed_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("callback bug")

    closed = io.StringIO()
    closed.close()
    rec = record()
    Output(on_log=explode, log_stream=closed, color=False, changes=Changes()).line(
        rec, "stdout", b"kept"
    )
    assert list(rec.log) == ["kept"]
    assert any("callback" in r.getMessage() and r.exc_info for r in caplog.records)


def test_output_announce_is_echoed_once_under_hubcore_dev() -> None:
    """``hubcore dev`` prints hubcore's warnings to the stream the output is echoed to; a
    notice is both logged and echoed, and must show there once, not twice."""
    seen, rec = Seen(), record()
    with _warnings_to(seen.echo):
        seen.output.announce(rec, logging.WARNING, "exited with code 3; restarting in 0.10s")
        logging.getLogger("hubcore.supervisor").warning("not a notice")
    assert seen.echo.getvalue().splitlines() == [
        f"{'web.0':<14} | [supervisor] exited with code 3; restarting in 0.10s",
        "hubcore: WARNING: not a notice",
    ]
