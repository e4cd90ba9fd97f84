"""An app: a procfile's topology booted under a hub and a supervisor, in this process.

How it works: entering an :class:`App` loads the procfile, serves a hub in the app's run
directory, writes the resolved spec there for the workers, and starts one worker process per
process instance under the supervisor. Workers report ``ready`` (or ``boot_failed``) to the hub;
the supervisor's state changes go into the hub's process table, which is what crash errors and
``hubcore ps`` read. A process is healthy when it runs and its current pid reported ready.

A ``boot_failed`` report stops that process for good (no restart loop) and :meth:`App.ready`
raises :class:`BootFailed` with the service's traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Container, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import anyio
import anyio.abc

from hubcore import _env
from hubcore._changes import Changes
from hubcore._errors import BootFailed, HubError, unknown_name
from hubcore._hub import Hub, serve_hub
from hubcore._rundir import HUB_SOCKET, PID_FILE, SPEC_FILE, app_rundir
from hubcore.app._control import control_target, replace_services
from hubcore.app._procfile import load_procfile
from hubcore.app._records import LIVE_STATES
from hubcore.app._spec import AppSpec
from hubcore.app._supervisor import (
    ProcessRecord,
    ProcessState,
    ProcessTemplate,
    Supervisor,
    check_kill_instance,
)
from hubcore.client._api import connect
from hubcore.client._client import Client
from hubcore.client._proxy import Proxy
from hubcore.rpc._tracing import CallRecord

__all__ = ("App",)


class App:
    """Boot a procfile from user code: ``async with App("procfile.py") as app: ...``."""

    def __init__(
        self,
        procfile: str | os.PathLike[str] | AppSpec,
        *,
        rundir: str | os.PathLike[str] | None = None,
        boot_timeout: float = 30.0,
        grace: float = 5.0,
        log_stream: TextIO | None = None,
        color: bool | None = None,
        replace: Mapping[str, str] | None = None,
        trace: bool = False,
    ) -> None:
        spec = procfile if isinstance(procfile, AppSpec) else load_procfile(procfile)
        self.spec = replace_services(spec, replace or {})
        self.rundir = Path(rundir) if rundir is not None else app_rundir(self.spec.path)
        self.boot_timeout = boot_timeout
        self._grace = grace
        self._log_stream = log_stream
        self._color = color
        self._trace = trace
        self._stack = AsyncExitStack()
        self._booted = False
        self._ready: dict[str, int] = {}  # label -> pid that reported ready
        self._failures: dict[str, dict[str, Any]] = {}
        self._changed = Changes()  # readiness may have changed
        self._tg: anyio.abc.TaskGroup | None = None
        self.hub: Hub | None = None
        self.supervisor: Supervisor | None = None
        self.client: Client | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> App:
        await self.boot()
        try:
            await self.ready(self.boot_timeout)
        except BaseException:
            # Not inside a new cancel scope: the stack exits the task groups this task
            # entered, which must happen in the scope they were entered in.
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def boot(self) -> None:
        """Serve the hub and start every process, without waiting for them to be ready.

        ``async with App(...)`` is :meth:`boot`, then :meth:`ready` with ``boot_timeout``.
        Calling the two yourself lets you act in between (show progress, let a signal cut the
        wait short, handle :class:`BootFailed` your way). Call :meth:`aclose` afterwards in
        every case, from the task that booted.

        :raises HubError: the app is running already.
        :raises OSError: the run directory or the hub's socket could not be made. Whatever
            was started is stopped before an error propagates.
        """
        if self._booted:
            raise HubError(f"the app of {self.spec.path} is running already: boot() it once")
        self._booted = True
        try:
            await self._start()
        except BaseException:
            await self.aclose()  # in this task, as above
            raise

    async def _start(self) -> None:
        self.rundir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.hub = hub = await self._stack.enter_async_context(serve_hub(self.rundir / HUB_SOCKET))
        hub.on_report = self._on_report
        hub.on_control = self._on_control
        (self.rundir / SPEC_FILE).write_text(json.dumps(self.spec.to_dict()))
        (self.rundir / PID_FILE).write_text(str(os.getpid()))
        self.supervisor = await self._stack.enter_async_context(
            Supervisor(
                self._templates(hub),
                on_change=self._on_change,
                grace=self._grace,
                log_stream=self._log_stream,
                color=self._color,
                pidfile=self.rundir / "pids.json",
            )
        )
        self.client = await self._stack.enter_async_context(
            connect(hub.address, token=hub.token, process="app", reconnect=False)
        )
        # Innermost, so that closing cancels only its own tasks, not the supervisor's stop.
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())

    def _templates(self, hub: Hub) -> list[ProcessTemplate]:
        base_env = {
            **os.environ,
            _env.ADDRESS: hub.address,
            _env.TOKEN_FILE: hub.token_file,
            _env.APP_SPEC: str(self.rundir / SPEC_FILE),
            _env.SUPERVISOR_PID: str(os.getpid()),
            "PYTHONUNBUFFERED": "1",
        }
        if self._trace:
            base_env[_env.TRACE] = "1"
        templates = []
        for proc in self.spec.processes.values():
            argv = (sys.executable, *proc.python_args, "-m", "hubcore.worker")
            for instance in range(proc.scale):
                env = {**base_env, **proc.env, _env.PROCESS: proc.name}
                env[_env.INSTANCE] = str(instance)
                templates.append(
                    ProcessTemplate(
                        proc.name,
                        instance,
                        argv,
                        env,
                        cwd=str(self.spec.root),
                        memory_limit=proc.memory_limit,
                        restart=proc.restart,
                    )
                )
        return templates

    async def aclose(self) -> None:
        """Stop every process (services' stop() first), then the hub. Idempotent."""
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
        await self._stack.aclose()
        self._booted = False
        for name in (PID_FILE, SPEC_FILE):
            (self.rundir / name).unlink(missing_ok=True)
        for stale in self.rundir.glob("peer-*.sock"):  # left by processes that were killed
            stale.unlink(missing_ok=True)

    # -- health ----------------------------------------------------------------------------

    def _on_change(self, record: ProcessRecord) -> None:
        assert self.hub is not None
        self.hub.record_process(record.snapshot())
        self._changed.notify()

    def _on_report(self, peer: dict[str, Any], kind: str, data: Any) -> None:
        label = f"{peer.get('process')}.{peer.get('instance', 0)}"
        if kind == "ready":
            self._ready[label] = int(peer.get("pid") or 0)
        elif kind == "boot_failed" and isinstance(data, dict):
            self._failures[label] = data
            if self._tg is not None and self.supervisor is not None:
                name, _, instance = label.rpartition(".")
                self._tg.start_soon(self.supervisor.stop, name, int(instance))
        self._changed.notify()

    def healthy(self, record: ProcessRecord) -> bool:
        """Whether a process runs and its current pid reported ready."""
        return record.state is ProcessState.RUNNING and self._ready.get(record.label) == record.pid

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until every process instance is up and has started its services.

        :raises BootFailed: a service's start() raised, or a process failed (crash loop).
        :raises TimeoutError: not ready within ``timeout``; the message names each process
            instance that was not, with its state.
        """
        supervisor = self._supervisor()
        try:
            with anyio.fail_after(timeout):
                while True:
                    self._raise_failures(supervisor)
                    if all(self.healthy(r) for r in supervisor.records.values()):
                        return
                    await self._changed.wait()
        except TimeoutError:
            late = self.not_ready()
            if not late:  # all ready at the deadline after all
                return
            raise TimeoutError(
                f"the app was not ready within {timeout:g}s: {'; '.join(late)}"
            ) from None

    def not_ready(self) -> list[str]:
        """The process instances that are not ready, each with its state and why.

        :return: e.g. ``["worker.1 (running, pid 4242, not reported ready)"]``; empty when
            every process runs and has started its services.
        """
        records = self._supervisor().records.values()
        return [_not_ready(r) for r in records if not self.healthy(r)]

    def _raise_failures(self, supervisor: Supervisor) -> None:
        for label, failure in self._failures.items():
            raise BootFailed(
                f"{failure.get('message')}\n{failure.get('traceback', '')}".rstrip(),
                service=str(failure.get("service", "")),
                process=label.rpartition(".")[0],
                remote_traceback=str(failure.get("traceback", "")),
            )
        for record in supervisor.records.values():
            if record.state is ProcessState.FAILED:
                tail = "\n".join(f"  {line}" for line in list(record.stderr_tail)[-20:])
                raise BootFailed(
                    f"process {record.label} failed: {record.reason}\n{tail}".rstrip(),
                    process=record.template.name,
                )

    # -- handles for users, tests and the CLI ----------------------------------------------

    def _supervisor(self) -> Supervisor:
        if self.supervisor is None:
            raise HubError("the app is not running: use `async with App(...)`")
        return self.supervisor

    @property
    def processes(self) -> dict[str, ProcessRecord]:
        """Process records by label (``name.instance``)."""
        return dict(self._supervisor().records)

    def config(self, service: str) -> dict[str, Any]:
        """The resolved config of a service (free ports included).

        :raises KeyError: no such service (the message lists the services, and suggests the
            closest name).
        """
        try:
            return dict(self.spec.services[service].config)
        except KeyError:
            services = self.spec.services
            listing = f"services: {', '.join(services)}"
            message = unknown_name(f"no service {service!r}", service, services, listing)
            raise KeyError(message) from None

    async def get_proxy(
        self, name: str, *, timeout: float = 10.0, instance: int | None = None
    ) -> Proxy:
        """A proxy for a published service of this app."""
        if self.client is None:
            raise HubError("the app is not running: use `async with App(...)`")
        return await self.client.get_proxy(name, timeout=timeout, instance=instance)

    async def kill(self, process: str, instance: int = 0, *, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a process, as a crash would: the supervisor restarts it.

        Returns once the supervisor has seen it die (for a deadly signal), so that a call made
        next knows it was sent after the death and waits for the restarted process.

        :param process: the process name.
        :param instance: which of its instances.
        :param sig: the signal (keyword only).
        :raises TypeError: a signal was passed as the instance.
        :raises LookupError: no such process (the message suggests the closest name).
        """
        check_kill_instance(process, instance)
        supervisor = self._supervisor()
        record = supervisor.select(process, instance)[0]
        pid = record.pid
        await supervisor.kill(process, instance, sig=sig)
        if pid is not None and sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            await supervisor.wait_until(
                record.label,
                lambda r: r.pid != pid or r.state is not ProcessState.RUNNING,
                timeout=self.boot_timeout,
            )

    async def restart(self, process: str, instance: int | None = None) -> None:
        """Stop a process gracefully and start it again; returns once it is ready.

        :raises LookupError: no such process (the message suggests the closest name).
        """
        await self._supervisor().restart(process, instance)
        await self.ready(self.boot_timeout)

    @asynccontextmanager
    async def pause(self, process: str, instance: int = 0) -> AsyncIterator[None]:
        """SIGSTOP a process for the block (alive but not answering), SIGCONT after."""
        with self.paused(process, instance):
            yield

    @contextmanager
    def paused(self, process: str, instance: int = 0) -> Iterator[None]:
        """:meth:`pause` for code without an event loop (a plain ``with``).

        :raises LookupError: no such process (the message suggests the closest name).
        """
        record = self._supervisor().select(process, instance)[0]
        if record.pid is None:
            raise HubError(f"{record.label} is not running")
        pid = record.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):  # it may have died meanwhile
                os.kill(pid, signal.SIGCONT)

    def logs(self, process: str, instance: int | None = None) -> list[str]:
        """The captured output lines of a process (every instance unless one is given).

        :raises LookupError: no such process (the message suggests the closest name).
        """
        return [line for r in self._supervisor().select(process, instance) for line in r.log]

    async def drain_calls(self, skip: Container[str] = ()) -> list[CallRecord]:
        """The cross-process calls recorded by the app's processes since the last drain.

        Needs ``App(trace=True)``. Processes named in ``skip`` are not asked.
        """
        hub = self._hub()
        batches = await hub.ask_clients("drain", skip=skip)
        records = [CallRecord.from_wire(r) for batch in batches for r in batch]
        return sorted(records, key=lambda r: r.started)

    async def calls_in_flight(
        self, skip: Container[str] = (), *, timeout: float = 5.0
    ) -> list[CallRecord]:
        """The cross-process calls the app's processes have made and that have not ended yet
        (outcome ``"in flight"``, the duration so far), oldest first.

        Needs ``App(trace=True)``. Processes named in ``skip`` are not asked, nor are those
        gone; one that does not answer within ``timeout`` seconds is left out. Ask this
        before :meth:`drain_calls`: a call that ends in between is then in both answers.
        """
        batches = await self._hub().ask_clients("in_flight", skip=skip, timeout=timeout)
        records = [CallRecord.from_wire(r) for batch in batches for r in batch]
        return sorted(records, key=lambda r: r.started)

    async def inject(
        self,
        target: str,
        *,
        delay: float = 0.0,
        error: tuple[str, str] | None = None,
        crash: bool = False,
        skip: Container[str] = (),
    ) -> int:
        """Install a fault on ``"object.method"`` in every process that publishes the object.

        :return: how many processes installed it (0: nobody publishes that object).
        """
        name, _, method = target.rpartition(".")
        if not name:
            raise HubError(f"inject a method as 'object.method', not {target!r}")
        answers = await self._hub().ask_clients(
            "inject", name, method, delay, list(error) if error else None, crash, skip=skip
        )
        return sum(1 for answer in answers if answer)

    async def clear_faults(self, skip: Container[str] = ()) -> None:
        """Remove every injected fault (processes named in ``skip`` are not asked)."""
        await self._hub().ask_clients("clear_faults", skip=skip)

    def _hub(self) -> Hub:
        if self.hub is None:
            raise HubError("the app is not running: use `async with App(...)`")
        return self.hub

    async def _on_control(self, action: str, args: dict[str, Any]) -> Any:
        """A command from the hub (``hubcore restart``...). A bad one raises, and the hub
        answers with that error: the app goes on."""
        if action == "restart":
            await self.restart(*control_target(self.spec, args))
            return "restarted"
        if action == "logs":
            return self.logs(*control_target(self.spec, args))
        if action == "spec":
            return self.spec.to_dict()
        raise HubError(f"unknown control action {action!r}: restart, logs or spec")


def _not_ready(record: ProcessRecord) -> str:
    """``"worker.1 (running, pid 123, not reported ready)"``: a process and why it is not ready."""
    pid = f"pid {record.pid}" if record.pid is not None else "no pid yet"
    live = record.state in LIVE_STATES
    why = "not reported ready" if live or not record.reason else record.reason
    return f"{record.label} ({record.state.value}, {pid}, {why})"
