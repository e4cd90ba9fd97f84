"""One supervised process: spawn it, watch it, restart it after a crash, stop it.

How it works
------------
A :class:`ProcessRunner` owns one :class:`ProcessRecord` and the OS process behind it. Its
:meth:`~ProcessRunner.run` task spawns the process, pumps its output, samples its memory,
waits for its exit and decides what happens next::

    STOPPED/FAILED --run()--> STARTING --spawned--> RUNNING
                                 ^                     | exit not asked for, or memory
                                 | after the delay     v limit exceeded (tree SIGKILLed)
                              BACKOFF <--policy ok-- CRASHED --crash loop--> FAILED

    any live state --stop()--> STOPPING --> STOPPED

- What follows a crash is the record's :meth:`RestartPolicy.plan
  <hubcore.app._spec.RestartPolicy.plan>`, on the supervisor's clock: a restart after
  ``min(backoff * 2**k, backoff_max)``, or FAILED after a crash loop. :meth:`prepare` (a start
  on request) forgets the crash-loop history.
- A spawn that raises (missing executable) counts as a crash, so it ends in FAILED, not a loop.

Invariants
----------
- At most one live OS process per runner; only :meth:`run` spawns, only :meth:`run` reaps.
- Every process leads its own process group (``start_new_session``). Whoever ends a process
  also SIGKILLs what is left of its group and of the descendants seen before the signals, so a
  service's own children (a browser) never outlive it.
- ``stopping`` is set before any signal of a stop, so :meth:`run` never mistakes a requested
  exit for a crash. A spawn in progress finishes under ``spawn_lock`` before a stop looks at it.
- :meth:`run` is started only when the previous one has returned (``finished``); the
  supervisor serialises commands on one runner with its :attr:`~ProcessRunner.lock`.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable

import anyio
import anyio.abc
import anyio.to_thread
import psutil

from hubcore._errors import reason
from hubcore.app._output import Output
from hubcore.app._proctree import describe_exit, kill_family, kill_group, send, tree_memory
from hubcore.app._records import ProcessRecord, ProcessState, ProcessTemplate, record_exit
from hubcore.app._stop import terminate

__all__ = ("ProcessRunner",)

_MIB = 1024 * 1024
_DRAIN_SECONDS = 1.0  # after an exit, how long to wait for the last buffered output


class ProcessRunner:
    """Run the OS process of one record: spawn, watch, restart after a crash, stop."""

    def __init__(
        self,
        template: ProcessTemplate,
        *,
        output: Output,
        on_state: Callable[[ProcessRecord], None],
        on_pids: Callable[[], None],
        clock: Callable[[], float],
        grace: float,
        memory_interval: float,
    ) -> None:
        """Prepare the record (STOPPED, "not started"); nothing runs before :meth:`run`.

        :param template: what to run.
        :param output: where output lines and restart notices go.
        :param on_state: called with the record after every state change.
        :param on_pids: called when the set of live pids may have changed (spawn, exit).
        :param clock: monotonic seconds, for the crash-loop window.
        :param grace: seconds between SIGTERM and SIGKILL when stopping.
        :param memory_interval: seconds between memory samples when there is a limit.
        """
        self.record = ProcessRecord(template=template, reason="not started")
        self.lock = anyio.Lock()  # the supervisor's stop/restart/start, one at a time
        self._output = output
        self._on_state = on_state
        self._on_pids = on_pids
        self._clock = clock
        self._grace = grace
        self._memory_interval = memory_interval
        self._process: anyio.abc.Process | None = None
        self._ps: psutil.Process | None = None  # identity of the live process (pid + ctime)
        self._stopping = False
        self._memory_reason: str | None = None  # set by the sampler just before it kills
        self._history: tuple[float, ...] = ()  # clock() of the restarts in the window
        self._backoff_scope: anyio.CancelScope | None = None
        self._spawn_lock = anyio.Lock()
        self._finished = anyio.Event()  # run() has returned
        self._finished.set()  # no run yet

    # --- commands (the supervisor holds `lock`) ---

    def prepare(self, reason: str) -> None:
        """Get ready for a new :meth:`run`: no stop pending, the crash-loop history forgotten.

        :param reason: the record's reason until the process runs (``"started on request"``).
        """
        self._stopping = False
        self._history = ()
        self._finished = anyio.Event()
        self.record.reason = reason

    def kill(self, sig: int) -> None:
        """Send ``sig`` to the running process, as an outside death would (a crash follows).

        :param sig: the signal; a process that is not running is left alone.
        """
        process = self._process
        if self._ps is not None and process is not None and process.returncode is None:
            send(self._ps, sig)

    async def stop(self) -> None:
        """Stop the process for good (no restart); see :func:`hubcore.app._stop.terminate`.

        Ends in STOPPED; a STOPPED or FAILED record is left as it is.
        """
        record = self.record
        if record.state in (ProcessState.STOPPED, ProcessState.FAILED):
            return
        self._stopping = True
        self._set_state(ProcessState.STOPPING)
        if self._backoff_scope is not None:
            self._backoff_scope.cancel()
        async with self._spawn_lock:  # a spawn in progress completes first
            pass
        why = await terminate(record, self._process, self._ps, self._grace)
        await self._finished.wait()  # bounded: run() only drains output now
        self._process = self._ps = None
        record.reason = why
        self._set_state(ProcessState.STOPPED)
        self._on_pids()

    # --- the run: spawn, watch, restart ---

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Spawn the process and keep it running until stopped or failed (a task's body).

        Reports started once the first spawn has returned (or failed).
        """
        try:
            process = await self._spawn()
            task_status.started()
            while True:
                if process is not None:
                    await self._watch(process)
                if self._stopping:
                    return
                delay = self._plan_restart()
                if delay is None or not await self._backoff(delay):
                    return
                self.record.restarts += 1
                process = await self._spawn()
        finally:
            self._finished.set()

    async def _spawn(self) -> anyio.abc.Process | None:
        template = self.record.template
        async with self._spawn_lock:
            if self._stopping:
                return None
            self.record.pid = self.record.started_at = None
            self._set_state(ProcessState.STARTING)
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
                self._spawn_failed(exc)
                return None
            self._spawned(process)
            return process

    def _spawned(self, process: anyio.abc.Process) -> None:
        self._process, self._memory_reason = process, None
        try:
            self._ps = psutil.Process(process.pid)
        except psutil.NoSuchProcess:  # exited and reaped already; the watcher reports it
            self._ps = None
        # exit_code etc. keep describing the last exit
        self.record.pid, self.record.started_at = process.pid, time.time()
        if not self._stopping:  # a stop that came during the spawn keeps its STOPPING
            self._set_state(ProcessState.RUNNING)
        self._on_pids()

    def _spawn_failed(self, exc: OSError) -> None:
        record = self.record
        self._process = self._ps = None
        record.pid = record.exit_code = record.signal = None
        record.reason = f"spawn failed: {reason(exc)}"
        if not self._stopping:
            self._set_state(ProcessState.CRASHED)

    async def _watch(self, process: anyio.abc.Process) -> None:
        """Pump output until the process exits; on an exit not asked for, record a crash."""
        async with anyio.create_task_group() as pumps:
            pumps.start_soon(self._output.pump, self.record, process.stdout, "stdout")
            pumps.start_soon(self._output.pump, self.record, process.stderr, "stderr")
            returncode = await self._wait_exit(process)
            # Leftovers of the group would hold the pipes open (and outlive their leader).
            kill_group(process.pid, signal.SIGKILL)
            pumps.cancel_scope.deadline = anyio.current_time() + _DRAIN_SECONDS
        await process.aclose()
        if not self._stopping:
            self._record_crash(returncode)

    async def _wait_exit(self, process: anyio.abc.Process) -> int:
        limit = self.record.template.memory_limit
        if limit is None or self._ps is None:
            return await process.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._sample_memory, self._ps, limit)
            returncode = await process.wait()
            tg.cancel_scope.cancel()
        return returncode

    async def _sample_memory(self, proc: psutil.Process, limit: int) -> None:
        while True:
            await anyio.sleep(self._memory_interval)
            # In a thread: walking a big tree reads /proc a lot and must not stall the loop.
            what, used = await anyio.to_thread.run_sync(tree_memory, proc)
            if used > limit:
                self._memory_reason = (
                    f"memory limit exceeded ({what} {used / _MIB:.1f} MiB > "
                    f"limit {limit / _MIB:.1f} MiB)"
                )
                kill_family(proc, signal.SIGKILL)  # _watch then clears the group
                return

    def _record_crash(self, returncode: int) -> None:
        record_exit(self.record, returncode)
        self.record.reason = self._memory_reason or describe_exit(returncode)
        self._process = self._ps = None
        self._set_state(ProcessState.CRASHED)
        self._on_pids()

    def _plan_restart(self) -> float | None:
        """Return the delay before the next restart, or ``None`` after a crash loop (FAILED)."""
        record, policy = self.record, self.record.template.restart
        plan = policy.plan(self._history, self._clock())
        self._history = plan.history
        if plan.delay is None:
            record.reason = (
                f"crash loop: {plan.crashes} crashes within {policy.within:g}s "
                f"(max_restarts={policy.max_restarts}); last: {record.reason}"
            )
            self._set_state(ProcessState.FAILED)
            self._output.announce(record, logging.ERROR, f"*** {record.reason}; NOT restarting ***")
            return None
        notice = f"{record.reason}; restarting in {plan.delay:.2f}s"
        self._output.announce(record, logging.WARNING, notice)
        return plan.delay

    async def _backoff(self, delay: float) -> bool:
        """Sleep before a restart; return whether the restart is still wanted."""
        self._set_state(ProcessState.BACKOFF)
        with anyio.CancelScope() as scope:
            self._backoff_scope = scope  # stop() cancels it
            await anyio.sleep(delay)
        self._backoff_scope = None
        return not self._stopping

    def _set_state(self, state: ProcessState) -> None:
        self.record.state = state
        self._on_state(self.record)
