"""Supervisor against real processes: the helper scripts in ``supervised/``.

Every wait is bounded (``wait_until``/``wait_state`` with a timeout, ``fail_after``,
``psutil.wait_procs``); no test sleeps to synchronise. An autouse fixture fails any test that
leaves a child process behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import anyio
import anyio.abc
import psutil
import pytest

from hubcore.app._spec import RestartPolicy
from hubcore.app._supervisor import (
    ProcessRecord,
    ProcessState,
    ProcessTemplate,
    Supervisor,
    sweep_pidfile,
    write_pidfile,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SCRIPTS = Path(__file__).parent / "supervised"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
FAST = RestartPolicy(backoff=0.01, backoff_max=0.05, max_restarts=3, within=30.0)
SLEEP_ARGV = [sys.executable, "-c", "import time; time.sleep(3600)"]
S = ProcessState


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def still_running(pids: Iterable[int], timeout: float = 5.0) -> list[int]:
    """Wait up to ``timeout`` for processes to end; return those still running.

    A zombie counts as gone: an orphan's zombie waits for init, which may take a while.
    """
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    deadline = time.monotonic() + timeout
    while True:
        alive = [proc for proc in procs if _running(proc)]
        if not alive or time.monotonic() > deadline:
            return [proc.pid for proc in alive]
        psutil.wait_procs(alive, timeout=0.1)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    # Only what this test started: under xdist a session's hub app may run in this process.
    before = {proc.pid for proc in psutil.Process().children(recursive=True)}
    yield
    children = [p.pid for p in psutil.Process().children(recursive=True) if p.pid not in before]
    left = still_running(children)
    for pid in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    if left:
        pytest.fail(f"the test left processes behind: {left}")


def template(script: str, *args: str, **options: object) -> ProcessTemplate:
    """A template running ``supervised/<script>``, named after it (``sleeper.py`` -> sleeper)."""
    return ProcessTemplate(
        name=Path(script).stem,
        instance=0,
        argv=(sys.executable, str(SCRIPTS / script), *args),
        env=ENV,
        **options,  # type: ignore[arg-type]
    )


def is_ready(record: ProcessRecord) -> bool:
    return record.state is S.RUNNING and "ready" in record.log


async def test_supervisor_captures_output_and_stderr_tail() -> None:
    lines: list[tuple[str, str, str]] = []
    echo = io.StringIO()
    on_log = lambda rec, stream, line: lines.append((rec.label, stream, line))  # noqa: E731
    async with Supervisor(
        [template("sleeper.py")], on_log=on_log, log_stream=echo, color=True
    ) as sup:
        record = await sup.wait_until("sleeper.0", is_ready, timeout=10)
        await sup.wait_until("sleeper.0", lambda r: len(r.log) == 3, timeout=5)
        snapshot = record.snapshot()

    assert sorted(record.log) == ["hello from stdout", "ready", "warming up"]  # pipes race
    assert [line for line in record.log if line != "warming up"] == ["hello from stdout", "ready"]
    assert list(record.stderr_tail) == ["warming up"]
    assert ("sleeper.0", "stderr", "warming up") in lines
    assert ("sleeper.0", "stdout", "ready") in lines
    assert snapshot["state"] == "running"
    assert snapshot["pid"] == record.pid
    assert snapshot["uptime"] >= 0
    assert snapshot["stderr_tail"] == ["warming up"]
    echoed = echo.getvalue().splitlines()
    assert any(line.endswith(f"{'sleeper.0':<14}\x1b[0m | ready") for line in echoed)
    assert echoed[0].startswith("\x1b[")


async def test_supervisor_restarts_crashed_process_with_new_pid(tmp_path: Path) -> None:
    seen: list[tuple[ProcessState, int | None]] = []
    crash_once = template("crash_once.py", str(tmp_path / "flag"), restart=FAST)
    async with Supervisor([crash_once], on_change=lambda r: seen.append((r.state, r.pid))) as sup:
        record = await sup.wait_until(
            "crash_once.0", lambda r: is_ready(r) and r.restarts == 1, timeout=10
        )
        first_pid = seen[1][1]
        assert seen[:2] == [(S.STARTING, None), (S.RUNNING, first_pid)]
        assert (S.CRASHED, first_pid) in seen
        assert (S.BACKOFF, first_pid) in seen
        assert record.pid != first_pid
        assert (record.exit_code, record.signal) == (3, None)
        assert record.reason == "exited with code 3"
        assert "first run: crashing" in record.stderr_tail


async def test_supervisor_kill_records_signal_and_restarts() -> None:
    async with Supervisor([template("sleeper.py", restart=FAST)]) as sup:
        record = await sup.wait_until("sleeper.0", is_ready, timeout=10)
        first_pid = record.pid
        await sup.kill("sleeper")
        await sup.wait_until("sleeper.0", lambda r: r.restarts == 1 and is_ready(r), timeout=10)
        assert record.pid != first_pid
        assert (record.exit_code, record.signal) == (None, signal.SIGKILL)
        assert record.reason == "killed by SIGKILL"


async def test_supervisor_crash_loop_ends_in_failed(caplog: pytest.LogCaptureFixture) -> None:
    echo = io.StringIO()
    async with Supervisor([template("exit3.py", restart=FAST)], log_stream=echo) as sup:
        record = await sup.wait_state("exit3.0", S.FAILED, timeout=10)
    assert record.restarts == FAST.max_restarts
    assert record.reason.startswith("crash loop: 4 crashes within 30s")
    assert record.reason.endswith("last: exited with code 3")
    assert record.exit_code == 3
    assert record.stderr_tail[-1] == "fatal: boom \ufffd"  # unterminated, invalid utf-8
    assert "NOT restarting" in echo.getvalue()
    assert any(r.levelno == logging.ERROR and "crash loop" in r.message for r in caplog.records)


async def test_supervisor_memory_limit_kills_and_restarts() -> None:
    hog = template("hog.py", memory_limit=64 * 1024 * 1024, restart=FAST)
    async with Supervisor([hog], memory_interval=0.05) as sup:
        record = await sup.wait_until("hog.0", lambda r: r.restarts >= 1, timeout=15)
        assert "memory limit exceeded (RSS " in record.reason
        assert "> limit 64.0 MiB)" in record.reason
        assert record.signal == signal.SIGKILL


async def test_supervisor_stop_kills_sigterm_ignorer_after_grace() -> None:
    async with Supervisor([template("ignore_term.py")], grace=0.5) as sup:
        record = await sup.wait_until("ignore_term.0", is_ready, timeout=10)
        pid = record.pid
        assert pid is not None
        started = time.monotonic()
        await sup.stop("ignore_term")
        elapsed = time.monotonic() - started
        assert record.state is S.STOPPED
        assert 0.5 <= elapsed < 2.5
        assert record.signal == signal.SIGKILL
        assert "killed by SIGKILL" in record.reason
        assert still_running([pid], timeout=0) == []


async def test_supervisor_stop_start_restart() -> None:
    """A stop is graceful (SIGTERM), not a crash; start and restart spawn afresh."""
    states: list[ProcessState] = []
    async with Supervisor(
        [template("sleeper.py")], on_change=lambda r: states.append(r.state)
    ) as sup:
        record = await sup.wait_until("sleeper.0", is_ready, timeout=10)
        first_pid = record.pid
        await sup.stop("sleeper", 0)
        assert (record.state, record.signal, record.reason) == (
            S.STOPPED,
            signal.SIGTERM,
            "stopped by SIGTERM",
        )
        assert S.CRASHED not in states
        await sup.start("sleeper")
        assert record.state is S.RUNNING
        second_pid = record.pid
        assert second_pid != first_pid
        assert record.restarts == 0
        await sup.restart("sleeper")
        assert (record.state, record.restarts) == (S.RUNNING, 1)
        assert record.pid not in (first_pid, second_pid)
        assert S.CRASHED not in states


async def test_supervisor_spawn_failure_counts_as_crash(tmp_path: Path) -> None:
    missing = ProcessTemplate("missing", 0, (str(tmp_path / "no-such-binary"),), ENV, restart=FAST)
    async with Supervisor([missing]) as sup:
        record = await sup.wait_state("missing.0", S.FAILED, timeout=10)
        assert "spawn failed: " in record.reason
        assert record.pid is None
        with pytest.raises(LookupError):
            await sup.stop("nope")


async def test_supervisor_stop_kills_grandchildren() -> None:
    async with Supervisor([template("grandchildren.py")]) as sup:
        record = await sup.wait_until("grandchildren.0", is_ready, timeout=10)
        grandchildren = [int(line.split()[1]) for line in record.log if line.startswith("grand")]
        assert len(grandchildren) == 2
        assert record.pid is not None
        await sup.stop()
        assert record.state is S.STOPPED
    assert still_running([record.pid, *grandchildren]) == []


async def test_supervisor_stop_during_backoff() -> None:
    slow = RestartPolicy(backoff=20.0, backoff_max=20.0)
    async with Supervisor([template("exit3.py", restart=slow)]) as sup:
        await sup.wait_state("exit3.0", S.BACKOFF, timeout=10)
        with anyio.fail_after(2):
            await sup.stop()
        record = sup.records["exit3.0"]
        assert (record.state, record.exit_code) == (S.STOPPED, 3)


async def test_supervisor_cancelled_owner_still_stops_children() -> None:
    with anyio.CancelScope() as scope:
        async with Supervisor([template("sleeper.py")]) as sup:
            record = await sup.wait_until("sleeper.0", is_ready, timeout=10)
            scope.cancel()
            await anyio.lowlevel.checkpoint()
    assert scope.cancelled_caught
    assert record.state is S.STOPPED
    assert record.pid is not None
    assert still_running([record.pid], timeout=0) == []


async def test_supervisor_survives_failing_callbacks() -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("callback bug")

    async with Supervisor([template("sleeper.py")], on_change=explode, on_log=explode) as sup:
        record = await sup.wait_until("sleeper.0", is_ready, timeout=10)
        await sup.stop()
        assert record.state is S.STOPPED


async def test_sweep_pidfile_kills_leftover_not_recycled_pid(tmp_path: Path) -> None:
    leftover = await anyio.open_process(SLEEP_ARGV, start_new_session=True)
    unrelated = await anyio.open_process(SLEEP_ARGV, start_new_session=True)
    try:
        pidfile = tmp_path / "children.json"
        write_pidfile(pidfile, [running_record("old", leftover), running_record("new", unrelated)])
        entries = json.loads(pidfile.read_text())
        entries[1]["create_time"] -= 3600  # recorded for an earlier holder of that pid
        pidfile.write_text(json.dumps(entries))

        assert sweep_pidfile(pidfile) == [leftover.pid]
        with anyio.fail_after(5):
            assert await leftover.wait() == -signal.SIGKILL
        assert unrelated.returncode is None
        assert _running(psutil.Process(unrelated.pid))
        assert not pidfile.exists()
        assert sweep_pidfile(pidfile) == []
    finally:
        for proc in (leftover, unrelated):
            if proc.returncode is None:
                proc.kill()
            await proc.aclose()


async def test_supervisor_keeps_pidfile_current_and_sweeps_on_entry(tmp_path: Path) -> None:
    pidfile = tmp_path / "children.json"
    leftover = await anyio.open_process(SLEEP_ARGV, start_new_session=True)
    try:
        write_pidfile(pidfile, [running_record("old", leftover)])
        async with Supervisor([template("sleeper.py")], pidfile=pidfile) as sup:
            with anyio.fail_after(5):
                assert await leftover.wait() == -signal.SIGKILL
            record = sup.records["sleeper.0"]
            assert record.pid is not None
            created = psutil.Process(record.pid).create_time()
            expected = {"pid": record.pid, "create_time": created, "label": "sleeper.0"}
            assert json.loads(pidfile.read_text()) == [expected]
        assert json.loads(pidfile.read_text()) == []
    finally:
        if leftover.returncode is None:
            leftover.kill()
        await leftover.aclose()


def running_record(name: str, process: anyio.abc.Process) -> ProcessRecord:
    tmpl = ProcessTemplate(name=name, instance=0, argv=tuple(SLEEP_ARGV), env=ENV)
    return ProcessRecord(template=tmpl, state=S.RUNNING, pid=process.pid)
