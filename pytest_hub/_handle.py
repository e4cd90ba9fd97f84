"""``hub_app`` in a sync test: a booted topology, driven from test code.

The app itself runs in hubcore's portal thread, so sync and async tests share it; every
method here is a blocking call into that thread. Async tests get the same app through
:class:`pytest_hub.AsyncHubApp`, whose waiting helpers run these calls in a worker thread.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

import hubcore
import hubcore.sync
from pytest_hub._calls import Calls
from pytest_hub._crash import Baseline, Crash, alive, find_crashes

__all__ = ("TEST_PROCESS", "AppFacts", "HubApp")

TEST_PROCESS = "pytest"
# Clients a harness call must not wait for: the test's own (its loop may be the blocked
# caller) and the app's.
_SKIP = frozenset({TEST_PROCESS, "app"})
DYING_GRACE = 0.2  # seconds a process the last test expected to die is given to do so
# Seconds between drains of the processes' call records when no test reads them: each client
# keeps its last 10,000 records only, and the session's totals need every one; a drain this
# rare costs a test nothing.
DRAIN_INTERVAL = 1.0
REPORT_WAIT = 2.0  # seconds a failing test's report waits for a process to list its calls


def _replaced(pid: int) -> Callable[[hubcore.ProcessRecord], bool]:
    return lambda record: record.pid != pid


class AppFacts:
    """What ``hub_app`` tells and does without waiting, the same in sync and async tests."""

    app: hubcore.App

    @property
    def rundir(self) -> Path:
        """The app's run directory (hub socket, token)."""
        return self.app.rundir

    @property
    def address(self) -> str:
        """The hub's socket."""
        assert self.app.hub is not None
        return self.app.hub.address

    @property
    def token_file(self) -> str:
        """The hub's token file."""
        assert self.app.hub is not None
        return self.app.hub.token_file

    @property
    def processes(self) -> dict[str, dict[str, Any]]:
        """Every process instance by label (``name.instance``): pid, state, restarts, ..."""
        return {label: r.snapshot() for label, r in self.app.processes.items()}

    def logs(self, process: str, instance: int | None = None) -> list[str]:
        """The output lines a process wrote (every instance unless one is given)."""
        return self.app.logs(process, instance)

    def config(self, service: str) -> dict[str, Any]:
        """The resolved config of a service, free ports included."""
        return self.app.config(service)

    def pause(self, process: str, instance: int = 0) -> AbstractContextManager[None]:
        """SIGSTOP a process for the block: alive, but answering nothing. A plain ``with``
        in async tests too: sending the signals waits for nothing."""
        return self.app.paused(process, instance)


class HubApp(AppFacts):
    """The procfile app booted for the tests (``hub_app`` in a sync test).

    Booted once per session (per xdist worker) for each procfile and set of replacements,
    and made healthy again before each test. Its helpers block until done; the facts
    (:attr:`processes`, :meth:`logs`, :meth:`config`, ...) answer at once.
    """

    def __init__(self, app: hubcore.App) -> None:
        self.app = app
        self._cm = hubcore.sync.portal().wrap_async_context_manager(app)
        self._cm.__enter__()
        self.started = True
        self.test_tracers: list[hubcore.Tracer] = []
        self.all_calls: list[hubcore.CallRecord] = []
        self.calls = Calls(self._fetch_calls)
        self._test_started = 0.0  # time.time() when the current test began
        self._drained_at = 0.0  # time.monotonic() of the last drain of the processes' records
        self._faults_injected = False  # since the last test began
        self._baselines: dict[str, Baseline] = {}
        self._expected: set[str] = set()
        self._sync_client: hubcore.sync.Client | None = None

    # -- acting on processes ---------------------------------------------------------------

    def kill(self, process: str, instance: int = 0, *, sig: int = signal.SIGKILL) -> None:
        """Kill a process as a crash would; the supervisor restarts it. Not a test failure.

        :raises TypeError: a signal was passed as the instance (pass it as ``sig=``).
        """
        self._expected.add(process)
        hubcore.sync.portal().call(partial(self.app.kill, process, instance, sig=sig))

    def restart(self, process: str, instance: int | None = None) -> None:
        """Stop a process gracefully, start it again, and wait until it is ready."""
        self._expected.add(process)
        hubcore.sync.portal().call(self.app.restart, process, instance)

    @contextmanager
    def inject(
        self,
        target: str,
        *,
        delay: float = 0.0,
        error: BaseException | type[BaseException] | None = None,
        crash: bool = False,
    ) -> Iterator[None]:
        """Slow down, fail or crash calls of ``"object.method"`` for the ``with`` block."""
        self._add_fault(target, delay=delay, error=error, crash=crash)
        try:
            yield
        finally:
            self._clear_faults()

    def _add_fault(
        self,
        target: str,
        *,
        delay: float = 0.0,
        error: BaseException | type[BaseException] | None = None,
        crash: bool = False,
    ) -> None:
        """Install the fault of :meth:`inject` (until :meth:`_clear_faults`).

        :raises hubcore.HubError: no process publishes the object.
        """
        self._faults_injected = True  # cleared before the next test, even if this fails half way
        spec = None
        if error is not None:
            cls = error if isinstance(error, type) else type(error)
            spec = (cls.__name__, "" if isinstance(error, type) else str(error))
        if crash:
            self._expected.update(self._publishers(target))
        count = hubcore.sync.portal().call(
            lambda: self.app.inject(target, delay=delay, error=spec, crash=crash, skip=_SKIP)
        )
        if not count:
            raise hubcore.HubError(f"cannot inject into {target}: no process publishes it")

    def _clear_faults(self) -> None:
        """Remove every fault injected in the app's processes."""
        hubcore.sync.portal().call(self.app.clear_faults, _SKIP)

    def _publishers(self, target: str) -> set[str]:
        name = target.rpartition(".")[0]
        return {s.process for s in self.app.spec.services.values() if s.publish_as == name}

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every process is up again and has started its services (after a kill)."""
        hubcore.sync.portal().call(self.app.ready, timeout or self.app.boot_timeout)

    # -- per test --------------------------------------------------------------------------

    def begin_test(self, timeout: float, expected: set[str]) -> None:
        """Make the topology healthy, forget earlier faults and calls, note who runs.

        What nothing changed costs nothing: the processes are asked only when this process
        does not already know them healthy, faults are cleared only after an ``inject``, and
        call records are drained when a test reads them (records of earlier tests are left
        out by their start time).
        """
        if not self._settled():
            hubcore.sync.portal().call(self._healthy, timeout)
        if self._faults_injected:
            self._clear_faults()
            self._faults_injected = False
        if time.monotonic() - self._drained_at >= DRAIN_INTERVAL:
            self._fetch_calls()  # what earlier tests left goes to the session's totals only
        self._expected = set(expected)
        self._baselines = {
            label: Baseline(label, r.pid, r.restarts, len(r.log))
            for label, r in self.app.processes.items()
        }
        self._test_started = time.time()
        self.calls = Calls(self._fetch_calls)

    def _settled(self) -> bool:
        """Healthy by what this process knows already: every process ready and alive, and
        none that the last test expected to die (it may not have died yet)."""
        if self._expected or self.app.not_ready():
            return False
        return all(alive(record.pid) for record in self.app.processes.values())

    async def _healthy(self, timeout: float) -> None:
        """Ready, and no process dead but not yet noticed: a crash at the very end of the
        previous test must not be taken for one of the next."""
        app = self.app
        assert app.supervisor is not None
        supervisor = app.supervisor
        try:
            with anyio.fail_after(timeout):
                await app.ready()
                for record in list(app.processes.values()):
                    pid = record.pid
                    if pid is not None and await anyio.to_thread.run_sync(self._dying, record):
                        await supervisor.wait_until(record.label, _replaced(pid), timeout=timeout)
                await app.ready()
        except TimeoutError:
            late = "; ".join(app.not_ready()) or "a dying process was not replaced yet"
            message = f"the app was not healthy again within {timeout:g}s: {late}"
            raise TimeoutError(message) from None

    def _dying(self, record: hubcore.ProcessRecord) -> bool:
        """Dead, or (if the last test expected it to die) dying within a moment: a signal
        sent at the end of a test may not have landed yet."""
        if not alive(record.pid):
            return True
        if record.template.name not in self._expected:
            return False
        # Polled, not waited for: the workers are children of this process, and a waitpid
        # here would steal their exit status from the supervisor.
        deadline = time.monotonic() + DYING_GRACE
        while time.monotonic() < deadline:
            if not alive(record.pid):
                return True
            time.sleep(0.01)
        return False

    def deaths(self) -> list[Crash]:
        """Processes that died during the test, expected to or not."""
        logs = {label: list(r.log) for label, r in self.app.processes.items()}
        return find_crashes(self._baselines, self.processes.values(), logs, self._test_started)

    def expected(self, crash: Crash) -> bool:
        """Whether the test said the process might die (marker, ``kill``, ``inject``...)."""
        return crash.name in self._expected

    def unexpected_crashes(self) -> list[Crash]:
        """Processes that died during the test although nothing said they would."""
        return [c for c in self.deaths() if not self.expected(c)]

    def see_deaths(self, crashes: list[Crash], timeout: float = REPORT_WAIT) -> None:
        """Wait (up to ``timeout`` s in all) until the supervisor has seen each of these
        deaths, so that a report can tell how and when each process died."""
        supervisor = self.app.supervisor
        unseen = [c for c in crashes if c.ended_at is None and c.pid is not None]
        if supervisor is None or not unseen:
            return

        def seen(pid: int | None) -> Callable[[hubcore.ProcessRecord], bool]:
            return lambda r: r.pid != pid or r.state is not hubcore.ProcessState.RUNNING

        async def wait() -> None:
            with anyio.move_on_after(timeout):
                for crash in unseen:
                    with contextlib.suppress(TimeoutError, LookupError):
                        await supervisor.wait_until(crash.label, seen(crash.pid), timeout=timeout)

        hubcore.sync.portal().call(wait)

    def calls_at_report(self) -> tuple[list[hubcore.CallRecord], list[hubcore.CallRecord]]:
        """The test's calls, and the calls not ended yet (not among them), for its report.

        The calls in flight are asked first: one that ends before the records are pulled is
        then in both, and its record is kept. A process that does not answer within
        ``REPORT_WAIT`` seconds (paused) is left out.
        """
        pending = hubcore.sync.portal().call(
            partial(self.app.calls_in_flight, _SKIP, timeout=REPORT_WAIT)
        )
        pending += [r for tracer in self.test_tracers for r in tracer.in_flight()]
        records = list(self.calls.refresh())
        ended = {r.call_id for r in records if r.call_id}
        return records, [r for r in pending if r.call_id not in ended]

    def output_since_start(self) -> dict[str, list[str]]:
        """Each process's output during the current test."""
        return {
            label: list(r.log)[self._baselines[label].log_lines :]
            for label, r in self.app.processes.items()
            if label in self._baselines
        }

    def _fetch_calls(self) -> list[hubcore.CallRecord]:
        return self._merge_calls(self._drain_app_calls())

    def _drain_app_calls(self) -> list[hubcore.CallRecord]:
        """The new call records of the app's processes (not of the test's own clients, whose
        event loop may be the one waiting here). Blocks; safe from a worker thread."""
        self._drained_at = time.monotonic()
        return hubcore.sync.portal().call(self.app.drain_calls, _SKIP)

    def _merge_calls(self, records: list[hubcore.CallRecord]) -> list[hubcore.CallRecord]:
        """Add the test's own new records (drained here, in the test's thread) to ``records``;
        all count in the session's totals. Return those of the current test, in the order
        the calls started: records are drained lazily, so some may be of earlier tests."""
        for tracer in self.test_tracers:
            records.extend(tracer.drain())
        records.sort(key=lambda r: r.started)
        self.all_calls.extend(records)
        return [r for r in records if r.started >= self._test_started]

    # -- clients for the proxy fixture -----------------------------------------------------

    def sync_client(self) -> hubcore.sync.Client:
        """The blocking client the sync tests' proxies use (traced)."""
        if self._sync_client is None:
            self._sync_client = hubcore.sync.connect(
                self.address, token=Path(self.token_file).read_bytes(), process=TEST_PROCESS
            )
            tracer = self._sync_client.tracer = hubcore.Tracer(TEST_PROCESS, 0)
            self.test_tracers.append(tracer)
        return self._sync_client

    def _sync_proxy(
        self, name: str, timeout: float, instance: int | None = None
    ) -> hubcore.sync.Proxy:
        """A blocking proxy of :meth:`sync_client`: made at once if ``name`` is published,
        else waiting for it (up to ``timeout``) as ``get_proxy`` does.

        :raises hubcore.ObjectNotFound: nothing published ``name`` within ``timeout``.
        """
        client = self.sync_client()
        try:
            return client.get_proxy_nowait(name, timeout=timeout, instance=instance)
        except hubcore.ObjectNotFound:
            pass  # not published right now: wait for it (outside the handler: no chained error)
        return client.get_proxy(name, timeout=timeout, instance=instance)

    def close(self) -> None:
        """Stop the app and everything it started, its last call records kept for the
        session's totals."""
        try:
            if self.started:
                self._fetch_calls()
        finally:
            if self._sync_client is not None:
                self._sync_client.close()
            if self.started:
                self.started = False
                self._cm.__exit__(None, None, None)
                shutil.rmtree(self.app.rundir.parent, ignore_errors=True)
