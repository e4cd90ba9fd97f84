"""Supervisor: run OS processes from templates, watch them, restart them, stop them cleanly.

How it works
------------
One :class:`ProcessRecord` per :class:`ProcessTemplate`, keyed by label (``"web.0"``). A
*runner* task per record owns the record's OS process: it spawns it, pumps its stdout/stderr
line by line, samples its memory, waits for its exit and decides what happens next::

    STOPPED/FAILED --start()--> STARTING --spawned--> RUNNING
                                   ^                     | exit not asked for, or memory
                                   | after the delay     v limit exceeded (tree SIGKILLed)
                                BACKOFF <--policy ok-- CRASHED --crash loop--> FAILED

    any live state --stop()/restart()/aclose()--> STOPPING --> STOPPED

- Restart delay: ``min(backoff * 2**k, backoff_max)``, ``k`` = restarts within the last
  ``within`` seconds. More than ``max_restarts`` of them: FAILED, no more restarts until start().
- A spawn that raises (missing executable) counts as a crash, so it ends in FAILED, not a loop.

Invariants
----------
- At most one live OS process per record; only its runner spawns, only its runner reaps.
- Every process leads its own process group (``start_new_session``). Whoever ends a process
  also SIGKILLs what is left of its group and of the descendants seen before the signals, so a
  service's own children (a browser) never outlive it.
- ``stopping`` is set before any signal of a stop, so the runner never mistakes a requested exit
  for a crash. A spawn in progress finishes under ``spawn_lock`` before a stop looks at it.
- Commands on one record (stop, restart, start) run one at a time under its ``lock``; a runner
  is launched only when the previous one has returned (``finished``).
- The stop sequence is bounded (``grace`` + a few seconds) and shielded in :meth:`aclose`, so
  cancelling the owner of a supervisor still stops every child.
- Every change (state or log line) calls back and wakes :meth:`Supervisor.wait_until`; a
  callback that raises is logged and ignored.

The supervisor knows nothing of the hub: it reports through ``on_change``/``on_log``.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import anyio
import anyio.abc
import anyio.to_thread
import psutil

from hubcore._changes import Changes
from hubcore._errors import reason
from hubcore.app._proctree import (
    descendants,
    describe_exit,
    kill_family,
    kill_group,
    kill_procs,
    kill_tree,
    send,
    sweep_pidfile,
    tree_memory,
)
from hubcore.app._records import (
    ProcessRecord,
    ProcessState,
    ProcessTemplate,
    write_pidfile,
)

__all__ = (
    "ProcessRecord",
    "ProcessState",
    "ProcessTemplate",
    "Supervisor",
    "kill_tree",
    "sweep_pidfile",
    "write_pidfile",
)

logger = logging.getLogger("hubcore.supervisor")

_MIB = 1024 * 1024
_MAX_LINE = 64 * 1024  # a "line" longer than this is cut, so a chatty child can't eat memory
_DRAIN_SECONDS = 1.0  # after an exit, how long to wait for the last buffered output
_REAP_SECONDS = 5.0  # after SIGKILL, how long to wait for the exit to be reported
_COLOURS = (36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91)

Callback = Callable[["ProcessRecord"], None]
LogCallback = Callable[["ProcessRecord", str, str], None]


# --- the supervisor ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Slot:
    """Per-record bookkeeping the outside world does not see."""

    record: ProcessRecord
    process: anyio.abc.Process | None = None
    ps: psutil.Process | None = None  # identity of the live process (pid + create_time)
    stopping: bool = False
    memory_reason: str | None = None  # set by the sampler just before it kills the tree
    history: deque[float] = field(default_factory=deque)  # clock() of restarts in the window
    backoff_scope: anyio.CancelScope | None = None
    spawn_lock: anyio.Lock = field(default_factory=anyio.Lock)
    lock: anyio.Lock = field(default_factory=anyio.Lock)  # serialises stop/restart/start
    finished: anyio.Event = field(default_factory=anyio.Event)  # the runner has returned


class Supervisor:
    """Run processes from templates; restart the ones that die; stop them all cleanly.

    Use as ``async with Supervisor(templates) as sup:``; entering spawns every template,
    leaving stops every process (graceful, then whole-tree SIGKILL).
    """

    def __init__(
        self,
        templates: Sequence[ProcessTemplate],
        *,
        on_change: Callback | None = None,
        on_log: LogCallback | None = None,
        grace: float = 5.0,
        memory_interval: float = 0.5,
        color: bool | None = None,
        log_stream: TextIO | None = None,
        pidfile: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the records; nothing runs before ``async with``.

        :param templates: one per process instance; labels must be unique.
        :param on_change: called with the record after every state change.
        :param on_log: called with (record, ``"stdout"``/``"stderr"``, line) for every line.
        :param grace: seconds between SIGTERM and SIGKILL when stopping.
        :param memory_interval: seconds between RSS samples of a process with a memory limit.
        :param color: colour labels on ``log_stream``; default: ``log_stream.isatty()``.
        :param log_stream: where to echo ``"<label> | <line>"`` output and lifecycle lines.
        :param pidfile: keep ``{pid, create_time, label}`` of live children there; swept
            (leftovers killed) on entry.
        :param clock: monotonic seconds, for the crash-loop window.
        :raises ValueError: two templates share a label.
        """
        self.records: dict[str, ProcessRecord] = {}
        self._slots: dict[str, _Slot] = {}
        for template in templates:
            if template.label in self._slots:
                raise ValueError(f"duplicate process label {template.label!r}")
            record = ProcessRecord(template=template, reason="not started")
            self.records[template.label] = record
            self._slots[template.label] = _Slot(record)
            self._slots[template.label].finished.set()  # no runner yet
        self._on_change = on_change
        self._on_log = on_log
        self._grace = grace
        self._memory_interval = memory_interval
        self._log_stream = log_stream
        self._color = color if color is not None else _isatty(log_stream)
        self._pidfile = pidfile
        self._clock = clock
        self._changed = Changes()
        self._tg: anyio.abc.TaskGroup | None = None
        self._closing = False
        self._closed = anyio.Event()

    # --- context management ---

    async def __aenter__(self) -> Supervisor:
        if self._pidfile is not None:
            swept = sweep_pidfile(self._pidfile)
            if swept:
                logger.warning("killed %d leftover process(es): %s", len(swept), swept)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            for slot in self._slots.values():
                await self._launch(slot, "started")
        except BaseException as exc:
            await self.aclose()
            await self._tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        assert self._tg is not None
        return await self._tg.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        """Stop every process (as :meth:`stop`), then cancel the supervisor's tasks.

        Idempotent; shielded from cancellation because it is bounded by ``grace`` plus a few
        seconds and is what prevents orphans.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            with anyio.CancelScope(shield=True):
                await self._stop_slots(list(self._slots.values()))
        finally:
            if self._tg is not None:
                self._tg.cancel_scope.cancel()
            self._closed.set()

    # --- commands ---

    async def stop(self, name: str | None = None, instance: int | None = None) -> None:
        """Stop processes without restarting them: SIGTERM, ``grace`` seconds, then SIGKILL.

        Whatever is left of each process tree (descendants seen before the signals, and the
        process group) is SIGKILLed in every case. Ends in STOPPED; FAILED ones stay FAILED.

        :param name: a process name; ``None`` stops all.
        :param instance: one instance of ``name``; ``None`` stops all its instances.
        :raises LookupError: no such process.
        """
        await self._stop_slots(self._select(name, instance))

    async def kill(self, name: str, instance: int = 0, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a running process, as an outside death would.

        The watchdog treats the resulting exit as a crash (restart with backoff). A process
        that is not running is left alone.

        :raises LookupError: no such process.
        """
        slot = self._select(name, instance)[0]
        if slot.ps is not None and slot.process is not None and slot.process.returncode is None:
            send(slot.ps, sig)

    async def restart(self, name: str, instance: int | None = None) -> None:
        """Gracefully stop, then spawn again (``restarts`` + 1; not counted as a crash).

        Instances are restarted one after the other, so a scaled service stays reachable.
        Like :meth:`start`, it forgets the crash-loop history (FAILED ones run again).

        :raises LookupError: no such process.
        :raises RuntimeError: the supervisor is closed.
        """
        for slot in self._select(name, instance):
            async with slot.lock:
                await self._stop_locked(slot)
                slot.record.restarts += 1
                await self._launch(slot, "restarted on request")

    async def start(self, name: str, instance: int | None = None) -> None:
        """Spawn again STOPPED or FAILED processes, forgetting their crash-loop history.

        Processes in any other state are left alone.

        :raises LookupError: no such process.
        :raises RuntimeError: the supervisor is closed.
        """
        for slot in self._select(name, instance):
            async with slot.lock:
                if slot.record.state in (ProcessState.STOPPED, ProcessState.FAILED):
                    await self._launch(slot, "started on request")

    async def wait_state(
        self,
        label: str,
        *states: ProcessState,
        timeout: float,
    ) -> ProcessRecord:
        """Wait until a record is in one of ``states``.

        :param label: ``"<name>.<instance>"``.
        :param timeout: seconds.
        :raises TimeoutError: not reached in time; the message gives the state it is in.
        :raises LookupError: no such label.
        :return: the record.
        """
        return await self.wait_until(label, lambda rec: rec.state in states, timeout=timeout)

    async def wait_until(
        self,
        label: str,
        predicate: Callable[[ProcessRecord], bool],
        *,
        timeout: float,
    ) -> ProcessRecord:
        """Wait until ``predicate(record)`` holds, re-checked on every state change or log line.

        :param label: ``"<name>.<instance>"``.
        :param timeout: seconds.
        :raises TimeoutError: not reached in time; the message gives the record's state.
        :raises LookupError: no such label.
        :return: the record.
        """
        record = self._slot(label).record
        try:
            with anyio.fail_after(timeout):
                while not predicate(record):
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{label}: condition not met within {timeout:g}s "
                f"(state {record.state.value}, reason {record.reason!r})"
            ) from None
        return record

    # --- lookup ---

    def _slot(self, label: str) -> _Slot:
        try:
            return self._slots[label]
        except KeyError:
            raise LookupError(f"no process {label!r}; known: {self._labels()}") from None

    def _select(self, name: str | None, instance: int | None) -> list[_Slot]:
        slots = [
            slot
            for slot in self._slots.values()
            if (name is None or slot.record.template.name == name)
            and (instance is None or slot.record.template.instance == instance)
        ]
        if not slots:
            raise LookupError(f"no process {name!r} instance {instance}; known: {self._labels()}")
        return slots

    def _labels(self) -> list[str]:
        return sorted(self._slots)

    # --- runner: spawn, watch, restart ---

    async def _launch(self, slot: _Slot, reason: str) -> None:
        if self._tg is None or self._closing:
            raise RuntimeError("the supervisor is not running (use `async with Supervisor(...)`)")
        slot.stopping = False
        slot.history.clear()
        slot.finished = anyio.Event()
        slot.record.reason = reason
        await self._tg.start(self._run, slot)

    async def _run(
        self, slot: _Slot, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            process = await self._spawn(slot)
            task_status.started()
            while True:
                if process is not None:
                    await self._watch(slot, process)
                if slot.stopping:
                    return
                delay = self._plan_restart(slot)
                if delay is None or not await self._backoff(slot, delay):
                    return
                slot.record.restarts += 1
                process = await self._spawn(slot)
        finally:
            slot.finished.set()

    async def _spawn(self, slot: _Slot) -> anyio.abc.Process | None:
        record, template = slot.record, slot.record.template
        async with slot.spawn_lock:
            if slot.stopping:
                return None
            record.pid = record.started_at = None
            self._set_state(record, ProcessState.STARTING)
            try:
                # Shielded: a cancelled fork could leave a child nobody holds a handle to.
                with anyio.CancelScope(shield=True):
                    process = await anyio.open_process(
                        list(template.argv),
                        env=dict(template.env),
                        cwd=template.cwd,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        start_new_session=True,
                    )
            except OSError as exc:
                self._spawn_failed(slot, exc)
                return None
            self._spawned(slot, process)
            return process

    def _spawned(self, slot: _Slot, process: anyio.abc.Process) -> None:
        record = slot.record
        slot.process, slot.memory_reason = process, None
        try:
            slot.ps = psutil.Process(process.pid)
        except psutil.NoSuchProcess:  # exited and reaped already; the watcher reports it
            slot.ps = None
        record.pid, record.started_at = process.pid, time.time()  # exit_code etc: the last exit
        if not slot.stopping:  # a stop that came during the spawn keeps its STOPPING
            self._set_state(record, ProcessState.RUNNING)
        self._sync_pidfile()

    def _spawn_failed(self, slot: _Slot, exc: OSError) -> None:
        record = slot.record
        slot.process = slot.ps = None
        record.pid = record.exit_code = record.signal = None
        record.reason = f"spawn failed: {reason(exc)}"
        if not slot.stopping:
            self._set_state(record, ProcessState.CRASHED)

    async def _watch(self, slot: _Slot, process: anyio.abc.Process) -> None:
        """Pump output until the process exits; on an exit not asked for, record a crash."""
        async with anyio.create_task_group() as pumps:
            pumps.start_soon(self._pump, slot, process.stdout, "stdout")
            pumps.start_soon(self._pump, slot, process.stderr, "stderr")
            returncode = await self._wait_exit(slot, process)
            # Leftovers of the group would hold the pipes open (and outlive their leader).
            kill_group(process.pid, signal.SIGKILL)
            pumps.cancel_scope.deadline = anyio.current_time() + _DRAIN_SECONDS
        await process.aclose()
        if not slot.stopping:
            self._record_crash(slot, returncode)

    async def _wait_exit(self, slot: _Slot, process: anyio.abc.Process) -> int:
        limit = slot.record.template.memory_limit
        if limit is None or slot.ps is None:
            return await process.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._sample_memory, slot, slot.ps, limit)
            returncode = await process.wait()
            tg.cancel_scope.cancel()
        return returncode

    async def _sample_memory(self, slot: _Slot, proc: psutil.Process, limit: int) -> None:
        while True:
            await anyio.sleep(self._memory_interval)
            # In a thread: walking a big tree reads /proc a lot and must not stall the loop.
            what, used = await anyio.to_thread.run_sync(tree_memory, proc)
            if used > limit:
                slot.memory_reason = (
                    f"memory limit exceeded ({what} {used / _MIB:.1f} MiB > "
                    f"limit {limit / _MIB:.1f} MiB)"
                )
                kill_family(proc, signal.SIGKILL)  # _watch then clears the group
                return

    def _record_crash(self, slot: _Slot, returncode: int) -> None:
        record = slot.record
        _set_exit(record, returncode)
        record.reason = slot.memory_reason or describe_exit(returncode)
        slot.process = slot.ps = None
        self._set_state(record, ProcessState.CRASHED)
        self._sync_pidfile()

    def _plan_restart(self, slot: _Slot) -> float | None:
        """Return the backoff delay before the next restart, or ``None`` after a crash loop."""
        record, policy = slot.record, slot.record.template.restart
        now = self._clock()
        while slot.history and slot.history[0] < now - policy.within:
            slot.history.popleft()
        if len(slot.history) >= policy.max_restarts:
            self._fail(slot, crashes=len(slot.history) + 1)
            return None
        delay = min(policy.backoff * 2.0 ** len(slot.history), policy.backoff_max)
        slot.history.append(now)
        self._announce(record, logging.WARNING, f"{record.reason}; restarting in {delay:.2f}s")
        return delay

    def _fail(self, slot: _Slot, *, crashes: int) -> None:
        record, policy = slot.record, slot.record.template.restart
        record.reason = (
            f"crash loop: {crashes} crashes within {policy.within:g}s "
            f"(max_restarts={policy.max_restarts}); last: {record.reason}"
        )
        self._set_state(record, ProcessState.FAILED)
        self._announce(record, logging.ERROR, f"*** {record.reason}; NOT restarting ***")

    async def _backoff(self, slot: _Slot, delay: float) -> bool:
        """Sleep before a restart; return whether the restart is still wanted."""
        self._set_state(slot.record, ProcessState.BACKOFF)
        with anyio.CancelScope() as scope:
            slot.backoff_scope = scope  # stop() cancels it
            await anyio.sleep(delay)
        slot.backoff_scope = None
        return not slot.stopping

    # --- stop sequence ---

    async def _stop_slots(self, slots: list[_Slot]) -> None:
        async with anyio.create_task_group() as tg:
            for slot in slots:
                tg.start_soon(self._stop_slot, slot)

    async def _stop_slot(self, slot: _Slot) -> None:
        async with slot.lock:
            await self._stop_locked(slot)

    async def _stop_locked(self, slot: _Slot) -> None:
        record = slot.record
        if record.state in (ProcessState.STOPPED, ProcessState.FAILED):
            return
        slot.stopping = True
        self._set_state(record, ProcessState.STOPPING)
        if slot.backoff_scope is not None:
            slot.backoff_scope.cancel()
        async with slot.spawn_lock:  # a spawn in progress completes first
            pass
        reason = await self._terminate(slot)
        await slot.finished.wait()  # bounded: the runner only drains output now
        slot.process = slot.ps = None
        record.reason = reason
        self._set_state(record, ProcessState.STOPPED)
        self._sync_pidfile()

    async def _terminate(self, slot: _Slot) -> str:
        """SIGTERM, wait ``grace``, SIGKILL the tree; return the reason to record."""
        process, proc = slot.process, slot.ps
        if process is None or proc is None or process.returncode is not None:
            if process is not None:  # died on its own meanwhile: clear its group all the same
                kill_group(process.pid, signal.SIGKILL)
                if process.returncode is not None:
                    _set_exit(slot.record, process.returncode)
            return "stopped"
        tree = descendants(proc)  # before any signal: re-parented ones are still found
        send(proc, signal.SIGTERM)
        send(proc, signal.SIGCONT)  # a paused (SIGSTOPped) process must see its SIGTERM
        with anyio.move_on_after(self._grace):
            await process.wait()
        forced = process.returncode is None
        if forced:
            kill_family(proc, signal.SIGKILL)
        kill_procs(tree, signal.SIGKILL)
        kill_group(process.pid, signal.SIGKILL)
        with anyio.move_on_after(_REAP_SECONDS):
            returncode = await process.wait()
            _set_exit(slot.record, returncode)
        if forced:
            return f"stopped: still running {self._grace:g}s after SIGTERM, killed by SIGKILL"
        return "stopped by SIGTERM"

    # --- reporting ---

    def _set_state(self, record: ProcessRecord, state: ProcessState) -> None:
        record.state = state
        logger.debug("%s -> %s (%s)", record.label, state.value, record.reason)
        _guarded(self._on_change, record)
        self._changed.notify()

    async def _pump(
        self, slot: _Slot, stream: anyio.abc.ByteReceiveStream | None, name: str
    ) -> None:
        if stream is None:
            return
        pending = b""
        try:
            async for chunk in stream:
                *lines, pending = (pending + chunk).split(b"\n")
                if len(pending) > _MAX_LINE:
                    lines.append(pending)
                    pending = b""
                for raw in lines:
                    self._line(slot.record, name, raw)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        if pending:
            self._line(slot.record, name, pending)  # a last line without its newline

    def _line(self, record: ProcessRecord, stream: str, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        record.log.append(line)
        if stream == "stderr":
            record.stderr_tail.append(line)
        _guarded(self._on_log, record, stream, line)
        self._echo(record.label, line)
        self._changed.notify()

    def _announce(self, record: ProcessRecord, level: int, message: str) -> None:
        logger.log(level, "%s: %s", record.label, message)
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

    def _sync_pidfile(self) -> None:
        if self._pidfile is None:
            return
        try:
            write_pidfile(self._pidfile, self.records.values())
        except OSError as exc:
            logger.warning("could not write pidfile %s: %s", self._pidfile, reason(exc))


def _set_exit(record: ProcessRecord, returncode: int) -> None:
    record.ended_at = time.time()
    record.exit_code = returncode if returncode >= 0 else None
    record.signal = -returncode if returncode < 0 else None


def _guarded(callback: Callable[..., None] | None, *args: Any) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        logger.exception("supervisor callback %r failed; ignored", callback)


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False
