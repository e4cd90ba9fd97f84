"""Supervisor: run OS processes from templates, watch them, restart them, stop them cleanly.

How it works
------------
One :class:`~hubcore.app._runner.ProcessRunner` per :class:`ProcessTemplate`, keyed by label
(``"web.0"``); each owns its record and OS process, and its states and restart policy are
described there. The supervisor starts the runners in its task group, routes commands to them,
and reports:

- every state change to ``on_change`` and every output line to ``on_log``
  (:class:`~hubcore.app._output.Output`), both waking :meth:`Supervisor.wait_until`; a
  callback that raises is logged and ignored;
- the live children to the ``pidfile``, rewritten on every spawn and exit, and swept (leftovers
  killed) on entry.

Invariants
----------
- Commands on one process (stop, restart, start) run one at a time under its runner's
  ``lock``; a runner is launched only when its previous run has returned.
- The stop sequence (:func:`hubcore.app._stop.terminate`) is bounded (``grace`` + a few
  seconds) and shielded in :meth:`Supervisor.aclose`, so cancelling the owner of a supervisor
  still stops every child.

The supervisor knows nothing of the hub: it reports through ``on_change``/``on_log``.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TextIO

import anyio
import anyio.abc

from hubcore._changes import Changes
from hubcore._errors import reason, unknown_name
from hubcore.app._output import LogCallback, Output, guarded, isatty
from hubcore.app._proctree import kill_tree, sweep_pidfile
from hubcore.app._records import (
    ProcessRecord,
    ProcessState,
    ProcessTemplate,
    write_pidfile,
)
from hubcore.app._runner import ProcessRunner

__all__ = (
    "ProcessRecord",
    "ProcessState",
    "ProcessTemplate",
    "Supervisor",
    "check_kill_instance",
    "kill_tree",
    "sweep_pidfile",
    "write_pidfile",
)

logger = logging.getLogger("hubcore.supervisor")

Callback = Callable[["ProcessRecord"], None]


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
        self._changed = Changes()
        output = Output(
            on_log=on_log,
            log_stream=log_stream,
            color=color if color is not None else isatty(log_stream),
            changes=self._changed,
        )
        self._runners: dict[str, ProcessRunner] = {}
        for template in templates:
            if template.label in self._runners:
                raise ValueError(f"duplicate process label {template.label!r}")
            self._runners[template.label] = ProcessRunner(
                template,
                output=output,
                on_state=self._state_changed,
                on_pids=self._sync_pidfile,
                clock=clock,
                grace=grace,
                memory_interval=memory_interval,
            )
        self.records: dict[str, ProcessRecord] = {
            label: runner.record for label, runner in self._runners.items()
        }
        self._on_change = on_change
        self._pidfile = pidfile
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
            for runner in self._runners.values():
                await self._launch(runner, "started")
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
                await self._stop_all(list(self._runners.values()))
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
        await self._stop_all(self._select(name, instance))

    async def kill(self, name: str, instance: int = 0, *, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a running process, as an outside death would.

        The watchdog treats the resulting exit as a crash (restart with backoff). A process
        that is not running is left alone.

        :param name: the process name.
        :param instance: which of its instances.
        :param sig: the signal (keyword only).
        :raises TypeError: a signal was passed as the instance.
        :raises LookupError: no such process.
        """
        check_kill_instance(name, instance)
        self._select(name, instance)[0].kill(sig)

    async def restart(self, name: str, instance: int | None = None) -> None:
        """Gracefully stop, then spawn again (``restarts`` + 1; not counted as a crash).

        Instances are restarted one after the other, so a scaled service stays reachable.
        Like :meth:`start`, it forgets the crash-loop history (FAILED ones run again).

        :raises LookupError: no such process.
        :raises RuntimeError: the supervisor is closed.
        """
        for runner in self._select(name, instance):
            async with runner.lock:
                await runner.stop()
                runner.record.restarts += 1
                await self._launch(runner, "restarted on request")

    async def start(self, name: str, instance: int | None = None) -> None:
        """Spawn again STOPPED or FAILED processes, forgetting their crash-loop history.

        Processes in any other state are left alone.

        :raises LookupError: no such process.
        :raises RuntimeError: the supervisor is closed.
        """
        for runner in self._select(name, instance):
            async with runner.lock:
                if runner.record.state in (ProcessState.STOPPED, ProcessState.FAILED):
                    await self._launch(runner, "started on request")

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
        record = self._runner(label).record
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

    def select(self, name: str, instance: int | None = None) -> list[ProcessRecord]:
        """The records of process ``name`` (of one instance, if given).

        :raises LookupError: no such process or instance (the message suggests a close name).
        """
        return [runner.record for runner in self._select(name, instance)]

    def _runner(self, label: str) -> ProcessRunner:
        try:
            return self._runners[label]
        except KeyError:
            message = unknown_name(f"no process {label!r}", label, self._runners, self._known())
            raise LookupError(message) from None

    def _select(self, name: str | None, instance: int | None) -> list[ProcessRunner]:
        runners = [
            runner
            for runner in self._runners.values()
            if (name is None or runner.record.template.name == name)
            and (instance is None or runner.record.template.instance == instance)
        ]
        if not runners:
            what = repr(name) if instance is None else f"{name!r} instance {instance}"
            names = [runner.record.template.name for runner in self._runners.values()]
            message = unknown_name(f"no process {what}", str(name), names, self._known())
            raise LookupError(message)
        return runners

    def _known(self) -> str:
        return f"known: {', '.join(sorted(self._runners))}"

    # --- running and stopping runners ---

    async def _launch(self, runner: ProcessRunner, reason: str) -> None:
        if self._tg is None or self._closing:
            raise RuntimeError("the supervisor is not running (use `async with Supervisor(...)`)")
        runner.prepare(reason)
        await self._tg.start(runner.run)

    async def _stop_all(self, runners: list[ProcessRunner]) -> None:
        async with anyio.create_task_group() as tg:
            for runner in runners:
                tg.start_soon(self._stop_one, runner)

    async def _stop_one(self, runner: ProcessRunner) -> None:
        async with runner.lock:
            await runner.stop()

    # --- reporting ---

    def _state_changed(self, record: ProcessRecord) -> None:
        logger.debug("%s -> %s (%s)", record.label, record.state.value, record.reason)
        guarded(self._on_change, record)
        self._changed.notify()

    def _sync_pidfile(self) -> None:
        if self._pidfile is None:
            return
        try:
            write_pidfile(self._pidfile, self.records.values())
        except OSError as exc:
            logger.warning("could not write pidfile %s: %s", self._pidfile, reason(exc))


def check_kill_instance(process: str, instance: int) -> None:
    """Refuse a signal where ``kill(process, instance=0, *, sig=...)`` takes the instance.

    A ``signal.Signals`` is an int, so ``kill("web", signal.SIGTERM)`` would otherwise aim at
    instance 15; ``hub_app.kill`` once took the signal second.

    :raises TypeError: ``instance`` is a signal; the message says to pass it as ``sig=``.
    """
    if isinstance(instance, signal.Signals):
        raise TypeError(
            f"kill({process!r}, signal.{instance.name}): the second argument is the instance; "
            f"pass the signal by keyword: kill({process!r}, sig=signal.{instance.name})"
        )
