"""The owner of an object dies: in-flight calls fail at once, the proxy survives a restart."""

from __future__ import annotations

import os
import signal

import anyio
import anyio.lowlevel
import pytest

import hubcore
from tests.integration.helpers import eventually, start_publisher

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_kill_fails_every_call_in_flight_with_process_crashed(spawn, hub_env, client):
    """100 calls in flight, kill -9 the owner: all fail with ProcessCrashed, long before 30 s."""
    proc = await start_publisher(spawn, hub_env, client, "info", "other", process="victim")
    survivor = await start_publisher(spawn, hub_env, client, "spare", process="survivor")
    proxy = await client.get_proxy("info", timeout=30)
    outcomes: list[BaseException | str] = []

    async def one() -> None:
        try:
            outcomes.append(await proxy.sleep(25))
        except Exception as exc:
            outcomes.append(exc)

    started = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(one)

        async def all_running() -> bool:
            return bool((await proxy.counts())["sleeping"] == 100)

        await eventually(all_running, timeout=10)
        os.kill(proc.pid, signal.SIGKILL)
    elapsed = anyio.current_time() - started
    assert len(outcomes) == 100
    bad = [o for o in outcomes if not isinstance(o, hubcore.ProcessCrashed)]
    assert not bad, bad[:3]
    crash = outcomes[0]
    assert isinstance(crash, hubcore.ProcessCrashed)
    assert (crash.process, crash.pid) == ("victim", proc.pid)
    assert elapsed < 5, f"calls took {elapsed:.1f}s to fail"
    # The hub, this client and the other process are unaffected.
    spare = await client.get_proxy("spare")
    assert await spare.get_pid() == survivor.pid
    await anyio.lowlevel.checkpoint()


async def test_proxy_works_again_when_a_new_process_publishes(spawn, hub_env, client):
    first = await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info", timeout=15)
    assert await proxy.get_pid() == first.pid
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    second = await start_publisher(spawn, hub_env, client, "info")
    assert await proxy.get_pid() == second.pid


async def test_call_during_restart_waits_for_the_new_publisher(spawn, hub_env, client):
    first = await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info", timeout=15)
    assert await proxy.get_pid() == first.pid
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    with anyio.fail_after(10):  # once the hub has withdrawn it, calls wait for a successor
        while client.directory.instances("info"):
            await client.directory.changed.wait()
    async with anyio.create_task_group() as tg:
        result: list[int] = []

        async def call() -> None:
            result.append(await proxy.get_pid())

        tg.start_soon(call)
        second = spawn.python("-m", "tests.integration.apps.publisher", "info", env={**hub_env})
    assert result == [second.pid]


async def test_crash_error_carries_exit_facts_reported_to_the_hub(spawn, hub_env, hub, client):
    """When a supervisor reported the exit, ProcessCrashed carries its code and stderr tail."""
    proc = await start_publisher(spawn, hub_env, client, "info", process="reported")
    hub.record_process({"name": "reported", "instance": 0, "pid": proc.pid, "state": "running"})
    proxy = await client.get_proxy("info")
    async with anyio.create_task_group() as tg:
        outcome: list[BaseException] = []

        async def call() -> None:
            try:
                await proxy.sleep(20)
            except hubcore.ProcessCrashed as exc:
                outcome.append(exc)

        tg.start_soon(call)
        await proxy.counts()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        hub.record_process(
            {
                "name": "reported",
                "instance": 0,
                "pid": proc.pid,
                "state": "crashed",
                "signal": 9,
                "stderr_tail": ["Traceback ...", "boom"],
            }
        )
    (crash,) = outcome
    assert crash.signal == 9
    assert crash.stderr_tail == ("Traceback ...", "boom")
    assert "killed by signal 9" in str(crash)
    assert "boom" in str(crash)
