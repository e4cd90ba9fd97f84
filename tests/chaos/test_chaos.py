"""Chaos: callers keep calls in flight while the app's processes are killed and paused.

Bounded in time and in count (seconds of load, a fixed number of kills), on Unix sockets, with
real processes: the app runs under ``hubcore.App``, and each caller is a process of its own
on one event loop (asyncio, uvloop, trio). Run them alone with ``pytest -m chaos -s``: each
test prints its figures (calls, kills, errors by type, slowest call, crash-detection times).
docs/guarantees.md states what they prove.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import psutil
import pytest

import hubcore
from tests.chaos.load import APP, Books, go, start_callers, stop, wait_done
from tests.conftest import Spawner
from tests.integration.helpers import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.anyio, pytest.mark.timeout(60)]

BACKENDS = ("asyncio", "uvloop", "trio")  # one caller process on each
IN_FLIGHT = 64  # calls each caller keeps in flight
CALL_TIMEOUT = 1.5
FAULT_SECONDS = 8.0  # the faults are spread over about this long
LOAD_SECONDS = 40.0  # the callers' load ends when the test says, or after this at most
KILLS = 10
PAUSE = CALL_TIMEOUT + 1.0  # past the call timeout: calls to the paused instance time out
SCALE = 3  # instances of "target" (tests/chaos/app/procfile.py)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the test's own loop; the callers run on every backend


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder where the callee processes write down the calls they run."""
    folder = tmp_path / "ledger"
    folder.mkdir()
    monkeypatch.setenv("CHAOS_LEDGER", str(folder))
    return folder


@pytest.fixture
async def app(rundir: Path, ledger: Path) -> AsyncIterator[hubcore.App]:
    async with hubcore.App(APP, rundir=rundir / "app", boot_timeout=30) as running:
        yield running


def _env(address: str, token_file: str) -> dict[str, str]:
    return {"HUBCORE_ADDRESS": address, "HUBCORE_TOKEN_FILE": token_file}


async def _faults(app: hubcore.App) -> list[str]:
    """Ten ``kill -9`` spread over the load, and one instance SIGSTOPped past the call timeout
    while the others are killed; returns what was done, in order."""
    done: list[str] = []
    gap = (FAULT_SECONDS - 2.0) / KILLS  # the pace of the faults, not a synchronisation

    async def kill(instance: int) -> None:
        # A process that serves (not one still starting after the previous kill, on a slow
        # machine): the kill meets calls in flight.
        await app.ready(timeout=15)
        pid = app.processes[f"target.{instance}"].pid
        await app.kill("target", instance)  # returns once the supervisor saw it die
        done.append(f"kill -9 target.{instance} (pid {pid})")
        await anyio.sleep(gap)

    await anyio.sleep(0.5)
    for number in range(KILLS // 2):
        await kill(number % SCALE)
    async with anyio.create_task_group() as group:
        group.start_soon(_pause, app, SCALE - 1, done)
        for number in range(KILLS - KILLS // 2):
            await kill(number % (SCALE - 1))  # not the paused one
    return done


async def _every_instance_ran(app: hubcore.App, ledger: Path) -> None:
    """Wait (bounded) until each running instance of ``target`` wrote down a call it ran."""

    async def ran() -> bool:
        return all(_ran(ledger, app.processes[f"target.{i}"].pid) for i in range(SCALE))

    await eventually(ran, timeout=10)


def _ran(ledger: Path, pid: int | None) -> bool:
    path = ledger / f"ran-{pid}.log"
    return path.exists() and path.stat().st_size > 0


async def _pause(app: hubcore.App, instance: int, done: list[str]) -> None:
    pid = app.processes[f"target.{instance}"].pid
    async with app.pause("target", instance):
        await anyio.sleep(PAUSE)  # how long it stays stopped: the fault itself
    done.append(f"SIGSTOP target.{instance} (pid {pid}) for {PAUSE:g} s")


async def test_calls_under_kills_and_a_pause_run_at_most_once_and_end_in_time(
    app: hubcore.App, spawn: Spawner, ledger: Path, tmp_path: Path
) -> None:
    """Three callers (asyncio, uvloop, trio), 64 calls in flight each, against three instances,
    through ten ``kill -9`` and one SIGSTOP past the call timeout. Every call ends in a correct
    result or a typed error within its timeout + 1 s; the callees' ledgers show that no call
    ran twice and that every result came from a run; then every instance answers again."""
    env = _env(app.hub.address, app.hub.token_file)
    callers = await start_callers(
        spawn,
        env,
        BACKENDS,
        tmp_path,
        seconds=LOAD_SECONDS,
        in_flight=IN_FLIGHT,
        timeout=CALL_TIMEOUT,
    )
    started = time.monotonic()
    go(callers)
    faults = await _faults(app)
    # The load goes on until every instance, the last one restarted too, has run calls.
    await app.ready(timeout=15)
    await _every_instance_ran(app, ledger)
    stop(callers)
    await wait_done(callers, timeout=CALL_TIMEOUT + 20)
    elapsed = time.monotonic() - started
    books = Books.read(callers, ledger)
    print(f"\nchaos: {len(faults)} faults: " + "; ".join(faults))
    print(
        f"chaos: {books.summary()}; {len(books.calls) / elapsed:,.0f} calls/s over {elapsed:.1f} s"
    )

    assert len(faults) == KILLS + 1
    assert not books.untyped(), books.untyped()[:5]
    assert not books.wrong_results(), books.wrong_results()[:5]
    assert not books.ran_twice(), books.ran_twice()[:5]
    assert books.slowest() <= CALL_TIMEOUT + 1.0, books.summary()
    outcomes = books.outcomes()
    # The faults hit calls in flight (else this test proved nothing): crashes and timeouts.
    assert outcomes["result"] > 1000, books.summary()
    assert outcomes["ProcessCrashed"] > 0, books.summary()
    assert outcomes["CallTimeout"] > 0, books.summary()
    assert len(books.ran) >= SCALE + KILLS  # the first instances and every restarted one

    await app.ready(timeout=15)
    for instance in range(SCALE):
        proxy = await app.get_proxy("ledger", instance=instance, timeout=10)
        answer = await proxy.run(f"after-{instance}", 0)
        assert answer == {
            "token": f"after-{instance}",
            "pid": app.processes[f"target.{instance}"].pid,
        }
    assert sum(record.restarts for record in app.processes.values()) == KILLS


async def test_crash_detection_latency_with_calls_in_flight(app: hubcore.App, ledger: Path) -> None:
    """``kill -9`` of a callee with 8 calls in flight (each would take 30 s): every one fails
    with ProcessCrashed at once. Ten kills; prints the median and the slowest detection."""
    rounds, per_round, detected = 10, 8, []
    for number in range(rounds):
        instance = number % SCALE
        await app.ready(timeout=15)
        pid = app.processes[f"target.{instance}"].pid
        assert pid is not None
        proxy = await app.get_proxy("ledger", instance=instance, timeout=10)
        errors: list[hubcore.HubError] = []
        killed_at: list[float] = []

        async def call(
            token: str,
            proxy: hubcore.Proxy = proxy,
            errors: list[hubcore.HubError] = errors,
            killed_at: list[float] = killed_at,
        ) -> None:
            try:
                await hubcore.call(proxy, "run", (token, 30.0), timeout=30)
            except hubcore.HubError as exc:
                errors.append(exc)
                detected.append(time.monotonic() - killed_at[0])

        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                for slot in range(per_round):
                    group.start_soon(call, f"slow-{number}-{slot}")
                await _wait_ran(ledger / f"ran-{pid}.log", per_round)
                killed_at.append(time.monotonic())
                os.kill(pid, signal.SIGKILL)
        assert [type(e) for e in errors] == [hubcore.ProcessCrashed] * per_round, errors
        assert {e.pid for e in errors} == {pid}
    print(
        f"\ncrash detection: {len(detected)} calls over {rounds} kill -9: median "
        f"{statistics.median(detected) * 1000:.0f} ms, max {max(detected) * 1000:.0f} ms"
    )
    assert max(detected) < 2.0  # the calls' timeout is 30 s: never waited for


async def _wait_ran(path: Path, count: int) -> None:
    """Until the callee has written down ``count`` calls (it runs in another process)."""
    with anyio.fail_after(10):
        while not path.exists() or len(path.read_text().split()) < count:  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_kill_9_of_the_supervisor_under_load_leaves_no_process(
    spawn: Spawner, rundir: Path, ledger: Path, tmp_path: Path
) -> None:
    """The process running the App is killed with SIGKILL while two callers keep 64 calls in
    flight each: within 5 s no process of the app is left, and the callers' calls all ended
    with a result or a typed error."""
    host = spawn.python(str(APP.parent / "host.py"), str(rundir / "app"), stdout=subprocess.PIPE)
    assert host.stdout is not None
    with anyio.fail_after(30):
        line = await anyio.to_thread.run_sync(host.stdout.readline, abandon_on_cancel=True)
    assert line, host.stderr.read().decode() if host.stderr else ""
    report = json.loads(line)
    workers = [psutil.Process(pid) for pid in report["processes"].values()]
    env = _env(str(rundir / "app" / "hub.sock"), str(rundir / "app" / "token"))
    callers = await start_callers(
        spawn, env, ("asyncio", "trio"), tmp_path, seconds=3.0, in_flight=IN_FLIGHT, timeout=2.0
    )
    go(callers)
    await anyio.sleep(1.0)  # under load for a second: the kill comes mid-flight
    killed_at = time.monotonic()
    os.kill(report["host"], signal.SIGKILL)
    left = await _wait_gone(workers, timeout=5.0)
    gone_after = time.monotonic() - killed_at
    assert not left, f"still running 5 s after the supervisor's kill -9: {left}"
    strays = _processes_of(env["HUBCORE_ADDRESS"], {c.proc.pid for c in callers})
    assert not strays, f"processes of the app left: {strays}"
    await wait_done(callers, timeout=20)
    books = Books.read(callers, ledger)
    print(f"\nsupervisor kill -9: its {len(workers)} workers gone in {gone_after:.2f} s")
    print(f"supervisor kill -9: {books.summary()}")
    assert not books.untyped(), books.untyped()[:5]
    assert not books.wrong_results(), books.wrong_results()[:5]
    assert not books.ran_twice(), books.ran_twice()[:5]
    assert books.outcomes()["result"] > 0


async def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait for ``procs`` to exit (zombies count as gone); return those still running."""
    with anyio.move_on_after(timeout):
        while not all(_gone(p) for p in procs):  # noqa: ASYNC110 (other processes' exits)
            await anyio.sleep(0.01)
    return [p for p in procs if not _gone(p)]


def _gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _processes_of(address: str, callers: set[int]) -> list[str]:
    """Live processes but ``callers`` whose environment names the app's hub: workers, and
    any child they started."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid in callers or proc.environ().get("HUBCORE_ADDRESS") != address:
                continue
            if not _gone(proc):
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])[:80]}")
        except psutil.Error:
            continue
    return found
