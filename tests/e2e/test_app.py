"""hubcore.App end to end: real worker processes booted, crashed, restarted and stopped.

Every test boots a real app (tests/apps/basic unless it needs another shape, those live in
tests/e2e/apps_extra/) in a private run directory, and checks what happened to the OS
processes with psutil. Waiting is always bounded: ``app.ready(timeout)``, ``wait_state`` /
``wait_until`` of the supervisor, ``fail_after``, or a bounded poll of another process's state.

Figures (boot time, kill to ready, stop time, supervisor death to orphans gone) are printed:
run with ``-s`` to see them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import anyio
import anyio.lowlevel
import anyio.to_thread
import psutil
import pytest

import hubcore
from hubcore.app._supervisor import ProcessState
from tests.conftest import ANYIO_BACKENDS, Spawner

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

HERE = Path(__file__).resolve().parent
BASIC = HERE.parent / "apps" / "basic" / "procfile.py"
EXTRA = HERE / "apps_extra"
HOST = HERE / "supervisor_host.py"
BASIC_LABELS = {"background.0", "worker.0", "worker.1", "hog.0"}
BOOT_TIMEOUT = 15.0  # a boot takes well under a second; a hang should fail fast

# Tests that boot the app with nothing heavy in it run on every backend. Those that allocate
# hundreds of MiB, run a second supervisor process or wait out a crash loop stay on asyncio:
# what they check happens in the supervisor and the workers, not in the test's event loop.
ASYNCIO_ONLY = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@pytest.fixture(params=ANYIO_BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


# --- helpers ----------------------------------------------------------------------------------


def _app(procfile: Path, rundir: Path, log_stream: TextIO | None = None) -> hubcore.App:
    """The app of ``procfile`` in ``<rundir>/app``: a short, private run directory."""
    return hubcore.App(
        procfile, rundir=rundir / "app", boot_timeout=BOOT_TIMEOUT, log_stream=log_stream
    )


def _gone(proc: psutil.Process) -> bool:
    """Whether a process has exited; a zombie counts (only its parent can still reap it)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _wait_gone(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` for every process to exit; return the ones still running."""
    procs = list(procs)
    with anyio.move_on_after(timeout):
        # Polled: these exits happen in other processes (grandchildren included) and send
        # this process no signal; the interval is short against the bound.
        while not all(_gone(p) for p in procs):  # noqa: ASYNC110
            await anyio.sleep(0.01)
    return [p for p in procs if not _gone(p)]


def _kill_survivors(procs: Iterable[psutil.Process]) -> None:
    """Clean up after a failed check: nothing a test started may outlive it."""
    for proc in procs:
        if not _gone(proc):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


def _describe(procs: Iterable[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        try:
            out.append(f"{proc.pid} {proc.status()} ppid={proc.ppid()} {proc.cmdline()}")
        except psutil.Error:
            out.append(f"{proc.pid} (gone)")
    return out


def _processes(pids: Iterable[int | None]) -> list[psutil.Process]:
    """psutil handles on the pids that still exist (exited ones need no waiting for)."""
    procs = []
    for pid in pids:
        if pid is None:
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    return procs


def _leaves(exc: BaseException | None) -> list[str]:
    """The exceptions inside (nested) groups, each as ``Type: first line``."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    first_line = str(exc).split("\n", 1)[0]
    return [f"{type(exc).__name__}: {first_line}"]


def _pids(app: hubcore.App) -> dict[str, int]:
    pids = {label: record.pid for label, record in app.processes.items()}
    assert all(pid is not None for pid in pids.values()), pids
    return {label: pid for label, pid in pids.items() if pid is not None}


def _sigterm_storm(proc: psutil.Process, timeout: float) -> int:
    """Send SIGTERM to ``proc`` every 0.5 ms until it exits (in a thread); return the count."""
    sent = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _gone(proc):
        try:
            proc.send_signal(signal.SIGTERM)  # checks the pid still names the same process
        except psutil.NoSuchProcess:
            break
        sent += 1
        time.sleep(0.0005)
    return sent


async def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One line of a child's stdout, waited for at most ``timeout`` seconds."""
    assert proc.stdout is not None
    with anyio.fail_after(timeout):
        # The thread is abandoned on timeout; the spawn fixture's kill then ends its read.
        return await anyio.to_thread.run_sync(proc.stdout.readline, abandon_on_cancel=True)


# --- boot and calls ---------------------------------------------------------------------------


async def test_app_boot_returns_with_every_process_ready(rundir: Path) -> None:
    """Entering the app returns once all four processes run and reported ready."""
    started = time.perf_counter()
    async with _app(BASIC, rundir) as app:
        boot = time.perf_counter() - started
        print(f"\n[figure] boot of tests/apps/basic ({len(app.processes)} processes): {boot:.3f}s")
        assert set(app.processes) == BASIC_LABELS
        pids = _pids(app)
        for label, record in app.processes.items():
            assert record.state is ProcessState.RUNNING, (label, record.state, record.reason)
            assert app.healthy(record), label
            proc = psutil.Process(pids[label])
            assert proc.ppid() == os.getpid(), label  # run by this process's supervisor
            assert "hubcore.worker" in proc.cmdline(), proc.cmdline()
        assert len(set(pids.values())) == 4
        assert isinstance(app.config("hog")["port"], int)
        with pytest.raises(KeyError, match="counter"):  # the message lists the services
            app.config("nope")
        with pytest.raises(KeyError, match="did you mean 'counter'"):
            app.config("countr")
        with pytest.raises(LookupError, match="did you mean 'background'"):
            await app.kill("backgrund")
        with pytest.raises(LookupError, match="did you mean 'background'"):
            await app.restart("backgrund")
        with pytest.raises(LookupError, match="did you mean 'worker'"):
            app.logs("wroker")
        with pytest.raises(LookupError, match="no process 'worker' instance 5; known: "):
            app.logs("worker", 5)
        with pytest.raises(LookupError, match="did you mean 'hog'"), app.paused("hgo"):
            pass

        counter = await app.get_proxy("counter")
        assert await counter.get_pid() == pids["background.0"]
        caller = await app.get_proxy("caller")
        bumps = [await caller.bump() for _ in range(4)]
    # caller (in worker.*) reached counter (in background): one count, in another process.
    assert [b["count"] for b in bumps] == [1, 2, 3, 4]
    # Both instances of the scaled process served calls, and neither is the counter's.
    assert {b["via"] for b in bumps} == {pids["worker.0"], pids["worker.1"]}


async def test_app_boot_in_two_steps(rundir: Path) -> None:
    """boot() serves the hub and spawns every process without waiting; ready() waits; a
    second boot() of a running app is refused; aclose() stops everything."""
    app = _app(BASIC, rundir)
    try:
        await app.boot()
        assert set(app.processes) == BASIC_LABELS
        assert app.hub is not None
        assert (app.rundir / "hub.sock").exists()
        with pytest.raises(hubcore.HubError, match="running already"):
            await app.boot()
        await app.ready(BOOT_TIMEOUT)
        assert app.not_ready() == []
        pids = _pids(app)
        counter = await app.get_proxy("counter")
        assert await counter.get_pid() == pids["background.0"]
    finally:
        await app.aclose()
    assert {r.state for r in app.processes.values()} == {ProcessState.STOPPED}
    assert await _wait_gone(_processes(pids.values()), 5) == []


# --- crashes ----------------------------------------------------------------------------------


async def test_app_kill_fails_the_call_in_flight_and_the_proxy_recovers(rundir: Path) -> None:
    """kill -9 with a call in flight: ProcessCrashed at once; the same proxy works after."""
    async with _app(BASIC, rundir) as app:
        counter = await app.get_proxy("counter")
        old_pid = await counter.get_pid()
        old = psutil.Process(old_pid)
        outcome: list[object] = []

        async def call() -> None:
            try:
                outcome.append(await counter.get_pid())
            except Exception as exc:
                outcome.append(exc)

        # Stopped (SIGSTOP), the process cannot answer: the call stays in flight until the kill.
        old.suspend()
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()  # the call is sent, waiting for its answer
            assert outcome == [], "the call finished although its callee is stopped"
            killed = time.perf_counter()
            await app.kill("background")
        crash = outcome[0]
        assert isinstance(crash, hubcore.ProcessCrashed), crash
        assert crash.signal == signal.SIGKILL
        assert crash.process == "background"
        assert crash.pid == old_pid
        assert crash.exit_code is None

        await app.ready(15)
        recovered = time.perf_counter() - killed
        print(f"\n[figure] kill -9 of background to app ready again: {recovered:.3f}s")
        new_pid = await counter.get_pid()  # the same proxy object
        record = app.processes["background.0"]
        assert record.restarts == 1
        assert new_pid == record.pid != old_pid
        assert await _wait_gone([old], 5) == []


async def test_app_calls_in_flight_lists_a_waiting_call_until_it_ends(rundir: Path) -> None:
    """A worker's call to a stopped background process is in flight, with its caller, callee
    and arguments, until background answers; then it is a record with the same id."""
    app = hubcore.App(BASIC, rundir=rundir / "app", boot_timeout=BOOT_TIMEOUT, trace=True)
    async with app:
        caller = await app.get_proxy("caller", timeout=30)
        await caller.bump()  # the worker's connection to background is open
        await app.drain_calls()
        background = psutil.Process(app.processes["background.0"].pid or 0)
        background.suspend()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(caller.bump)
                with anyio.fail_after(10):
                    # Polled: the call waits in a worker process, which tells nobody. The
                    # stopped process cannot answer: it is not asked.
                    while not (pending := await app.calls_in_flight({"background"})):  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                background.resume()
        finally:
            background.resume()
        [waiting] = pending
        assert (waiting.caller, waiting.callee, waiting.callee_instance) == (
            "worker",
            "background",
            0,
        )
        assert (waiting.object, waiting.method, waiting.outcome) == (
            "counter",
            "increment",
            "in flight",
        )
        assert waiting.call_id.startswith(f"worker.{waiting.caller_instance}/")
        assert await app.calls_in_flight() == []
        [done] = await app.drain_calls()
        assert (done.call_id, done.outcome) == (waiting.call_id, "result")


async def test_app_crash_reports_exit_code_and_stderr(rundir: Path) -> None:
    async with _app(BASIC, rundir) as app:
        counter = await app.get_proxy("counter")
        old_pid = await counter.get_pid()
        with pytest.raises(hubcore.ProcessCrashed) as info:
            await counter.crash()
        crash = info.value
        assert (crash.process, crash.pid, crash.exit_code) == ("background", old_pid, 7)
        assert crash.signal is None
        assert any("about to crash" in line for line in crash.stderr_tail), crash.stderr_tail
        assert "about to crash" in str(crash)

        await app.ready(15)
        assert await counter.get_pid() == app.processes["background.0"].pid != old_pid
        assert app.processes["background.0"].exit_code == 7  # the last exit, kept on restart


@ASYNCIO_ONLY
async def test_app_crash_loop_ends_in_failed(rundir: Path) -> None:
    """A process that boots fine but keeps exiting: FAILED after max_restarts, then left alone."""
    async with _app(EXTRA / "crash_loop", rundir) as app:
        record = await app.supervisor.wait_state("flaky.0", ProcessState.FAILED, timeout=30)
        assert "crash loop" in record.reason, record.reason
        assert "exited with code 5" in record.reason, record.reason
        assert record.restarts == 2  # the first run and two restarts, then no more
        assert any("exiting with code 5" in line for line in record.stderr_tail)
        assert await _wait_gone(_processes([record.pid]), 5) == []
        with pytest.raises(hubcore.BootFailed, match="crash loop"):
            await app.ready(5)
        assert app.processes["flaky.0"].state is ProcessState.FAILED
        assert app.processes["flaky.0"].restarts == 2


async def test_app_boot_failure_raises_boot_failed_and_restarts_nothing(rundir: Path) -> None:
    """A service whose start() raises fails the boot with its traceback; nothing loops or stays.

    Up to 0b284dd, App.__aenter__ closed the app inside ``anyio.CancelScope(shield=True)``: the
    task groups of the hub, the supervisor and the client were exited inside a scope opened
    after them, and "RuntimeError: Attempted to exit a cancel scope that isn't the current
    tasks's current cancel scope" (trio: "Cancel scope stack corrupted") replaced BootFailed.
    """
    app = _app(EXTRA / "boot_failure", rundir)
    raised: BaseException | None = None
    try:
        async with app:
            pytest.fail("the app booted although a service's start() raised")
    except Exception as exc:  # the exact type is what is checked below
        raised = exc

    # No restart loop, nothing left running, and started services were stopped.
    records = app.processes
    assert {label: r.restarts for label, r in records.items()} == {"background.0": 0, "web.0": 0}
    for label, record in records.items():
        assert record.state is ProcessState.STOPPED, (label, record.state, record.reason)
    assert await _wait_gone(_processes(r.pid for r in records.values()), 5) == []
    assert "store stopped" in app.logs("background")

    assert isinstance(raised, hubcore.BootFailed), (
        f"entering the app raised {_leaves(raised)} instead of BootFailed"
    )
    assert raised.service == "settings"
    assert raised.process == "background"
    message = str(raised)
    assert "'settings'" in message, message
    assert "bad config" in message, message
    assert "Traceback" in message, message
    assert "ValueError: bad config" in raised.remote_traceback


# --- memory limit -----------------------------------------------------------------------------


@ASYNCIO_ONLY
async def test_app_memory_limit_restarts_the_process(rundir: Path) -> None:
    """hog grows past its 200 MiB limit: its tree is killed and restarted; the proxy recovers."""
    async with _app(BASIC, rundir) as app:
        hog = await app.get_proxy("hog")
        old_pid = await hog.get_pid()
        grown = time.perf_counter()
        # It returns, or dies mid-call if a memory sample lands during the allocation.
        with contextlib.suppress(hubcore.ProcessCrashed):
            await hog.grow(300)
        record = await app.supervisor.wait_until(
            "hog.0", lambda r: "memory limit exceeded" in r.reason, timeout=15
        )
        assert record.signal == signal.SIGKILL
        assert "limit 200.0 MiB" in record.reason, record.reason
        await app.ready(15)
        print(f"\n[figure] grow(300 MiB) to hog ready again: {time.perf_counter() - grown:.3f}s")
        assert app.processes["hog.0"].restarts == 1
        assert await hog.get_pid() == app.processes["hog.0"].pid != old_pid
        assert await _wait_gone(_processes([old_pid]), 5) == []
        # The others were not touched.
        assert all(app.processes[label].restarts == 0 for label in BASIC_LABELS - {"hog.0"})


# --- stopping ---------------------------------------------------------------------------------


async def test_app_exit_stops_every_process_and_their_children(rundir: Path) -> None:
    """Leaving ``async with`` runs the services' stop() and leaves no process behind."""
    output = io.StringIO()
    app = _app(BASIC, rundir, log_stream=output)
    async with app:
        counter = await app.get_proxy("counter")
        child = psutil.Process(await counter.spawn_child())
        assert child.ppid() == app.processes["background.0"].pid
        procs = [psutil.Process(pid) for pid in _pids(app).values()] + [child]
        stopping = time.perf_counter()
    stopped = time.perf_counter() - stopping
    print(f"\n[figure] stop of tests/apps/basic (4 processes + 1 child): {stopped:.3f}s")
    try:
        survivors = await _wait_gone(procs, 10)
        assert survivors == [], _describe(survivors)
    finally:
        _kill_survivors(procs)
    assert "counter stopping" in output.getvalue(), output.getvalue()
    for label, record in app.processes.items():
        # Each worker exited on SIGTERM, within the grace period: no SIGKILL was needed.
        assert (record.state, record.reason) == (ProcessState.STOPPED, "stopped by SIGTERM"), label
    assert json.loads((rundir / "app" / "pids.json").read_text()) == []
    assert not (rundir / "app" / "app.json").exists()


@ASYNCIO_ONLY
async def test_app_supervisor_killed_leaves_no_orphans(rundir: Path, spawn: Spawner) -> None:
    """kill -9 of the process running App: its workers and their children exit on their own.

    Workers get SIGTERM from PR_SET_PDEATHSIG (and see the hub connection close); they stop
    their services and kill their children. Before 5a0fe32 the grandchild outlived them in
    about 1 run in 4: see test_worker_kills_its_children_whatever_number_of_sigterms.
    """
    host = spawn.python(str(HOST), str(rundir / "app"), stdout=subprocess.PIPE)
    line = await _read_line(host, 30)
    assert line, f"the host exited before it was ready: {host.stderr.read() if host.stderr else ''}"
    report = json.loads(line)
    pids = {**report["processes"], "grandchild": report["grandchild"]}
    procs = {label: psutil.Process(pid) for label, pid in pids.items()}
    try:
        killed = time.perf_counter()
        os.kill(host.pid, signal.SIGKILL)
        survivors = await _wait_gone(procs.values(), 10)
        left = {label: _describe([proc]) for label, proc in procs.items() if proc in survivors}
        assert not left, f"still running 10 s after the supervisor died: {left}"
        print(
            f"\n[figure] supervisor kill -9 to its {len(procs)} processes gone: "
            f"{time.perf_counter() - killed:.3f}s"
        )
    finally:
        _kill_survivors(procs.values())


@ASYNCIO_ONLY
async def test_worker_kills_its_children_whatever_number_of_sigterms(rundir: Path) -> None:
    """SIGTERMs that keep coming during a worker's shutdown cut neither its services' stop()
    nor the killing of its children short.

    When a supervisor dies, Linux sends a worker its PR_SET_PDEATHSIG signal once per thread of
    the supervisor it gets re-parented through (kernel/exit.c, forget_original_parent), and a
    supervisor running App has several threads: a worker can get SIGTERM two or three times,
    milliseconds apart (strace: two SIGTERMs 3 ms apart). Up to 0b284dd the worker left
    ``open_signal_receiver`` after the first one, which restores the default action; in
    cb8780a it kept the receiver through ``stop_all()``, but closing it restores the default
    action too, before ``main()`` reaches ``_kill_children()``. Either way a later SIGTERM
    killed the worker first, and a child in a session of its own (a browser, say) was
    orphaned. 5a0fe32 installs a handler that is never removed.

    SIGTERM is sent every half millisecond until the worker has exited (its stop() takes a
    second): any moment of its shutdown when SIGTERM kills it is hit.
    """
    async with _app(EXTRA / "slow_stop", rundir) as app:
        launcher = await app.get_proxy("launcher")
        child = psutil.Process(await launcher.child_pid())
        worker = psutil.Process(app.processes["background.0"].pid or 0)
        try:
            sent = await anyio.to_thread.run_sync(_sigterm_storm, worker, 15.0)
            record = await app.supervisor.wait_until(
                "background.0",
                lambda r: r.exit_code is not None or r.signal is not None,
                timeout=10,
            )
            survivors = await _wait_gone([child], 5)
            assert not survivors, (
                f"the worker ended {record.reason!r} after {sent} SIGTERMs and left its child "
                f"running: {_describe(survivors)}"
            )
            logs = app.logs("background")
            assert "launcher stopping" in logs
            # How it ended does not matter: a SIGTERM can still kill it once Python, finalizing,
            # has put the default action back; by then its children are gone.
            assert "launcher stopped" in logs, f"stop() was cut short: {record.reason!r}"
        finally:
            _kill_survivors([child])


@ASYNCIO_ONLY
async def test_app_boot_sweeps_processes_left_by_a_dead_supervisor(
    rundir: Path, spawn: Spawner
) -> None:
    """Booting in a run directory whose pids.json lists live processes kills them first.

    A recorded process is killed only if its pid still has the recorded creation time, so an
    unrelated process that got a recycled pid is left alone.
    """
    app_dir = rundir / "app"
    async with _app(BASIC, rundir) as app:
        first = _pids(app)
        listed = json.loads((app_dir / "pids.json").read_text())
        assert {e["label"]: e["pid"] for e in listed} == first
    # A supervisor that died with kill -9 leaves its pidfile and its hub socket file behind.
    leftover = spawn.python("-c", "import time; time.sleep(600)")
    unrelated = spawn.python("-c", "import time; time.sleep(600)")
    entries = [
        *listed,  # exited: ignored
        {
            "pid": leftover.pid,
            "create_time": psutil.Process(leftover.pid).create_time(),
            "label": "background.0",
        },
        {
            "pid": unrelated.pid,
            "create_time": psutil.Process(unrelated.pid).create_time() - 100,
            "label": "worker.0",
        },
    ]
    (app_dir / "pids.json").write_text(json.dumps(entries))
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(app_dir / "hub.sock"))

    async with _app(BASIC, rundir) as app:
        second = _pids(app)
        # Bounded by its timeout: the sweep's SIGKILL was sent before the boot returned.
        assert await anyio.to_thread.run_sync(leftover.wait, 10) == -signal.SIGKILL
        assert unrelated.poll() is None, "a process with a recycled pid was killed"
        assert not set(second.values()) & set(first.values())
        listed = json.loads((app_dir / "pids.json").read_text())
        assert {e["label"]: e["pid"] for e in listed} == second
        caller = await app.get_proxy("caller")
        assert (await caller.bump())["count"] == 1


@ASYNCIO_ONLY
async def test_app_pause_ends_cleanly_when_the_paused_process_died(rundir: Path) -> None:
    """Leaving ``app.pause()`` after the paused process died must not raise.

    Up to 0b284dd, App.pause sent SIGCONT to ``record.pid`` when the block ended: by then the
    dead, reaped process (ProcessLookupError), None while the replacement spawned (TypeError),
    or the replacement. The error replaced whatever the block raised.
    """
    async with _app(BASIC, rundir) as app:
        old_pid = app.processes["background.0"].pid
        async with app.pause("background"):
            await app.kill("background")
            await app.supervisor.wait_until(
                "background.0", lambda r: r.signal == signal.SIGKILL, timeout=10
            )
        await app.ready(15)
        assert app.processes["background.0"].pid != old_pid


# --- root causes ------------------------------------------------------------------------------


class _Named:
    def ping(self) -> str:
        return "pong"


async def test_client_directory_keeps_names_published_while_it_connects(rundir: Path) -> None:
    """A name published while a client joins the hub must stay in that client's directory.

    The root cause of boot hangs of the tests above under ``-n 2`` (about 1 run in 6 up to
    0b284dd): a worker of ``caller`` waited forever in ``_wait_dependencies`` for ``counter``,
    which was published and ready. ``Client.__aenter__`` awaited the hub's ``watch`` snapshot,
    then called ``directory.replace_all(snapshot)``; a ``published`` event sent right behind
    the snapshot could be handled in the same batch of frames, before the awaiting task
    resumed, and ``replace_all`` then erased it. The publish is delayed by 0 to 39 event-loop
    turns so that some land in that window, whatever the backend's timing.
    """
    lost: list[int] = []
    async with (
        hubcore.serve_hub(rundir / "hub.sock") as hub,
        hubcore.connect(hub.address, token=hub.token, process="publisher") as publisher,
    ):
        for attempt in range(160):
            delay, name, published = attempt % 40, f"name{attempt}", anyio.Event()

            async def publish_later(delay: int, name: str, published: anyio.Event) -> None:
                for _ in range(delay):
                    await anyio.lowlevel.checkpoint()
                await publisher.publish(name, _Named())
                published.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(publish_later, delay, name, published)
                async with hubcore.connect(hub.address, token=hub.token, process="late") as late:
                    await published.wait()
                    await late.hub_call("objects")  # a round trip: every earlier event is in
                    if not late.directory.instances(name):
                        lost.append(delay)
    assert not lost, f"names lost at these publish delays (loop turns): {sorted(set(lost))}"
