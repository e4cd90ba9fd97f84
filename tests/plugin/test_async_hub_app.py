"""``hub_app`` in async tests (asyncio and trio): the helpers that wait are coroutines, and
the test's event loop (its tasks, its own hubcore client) keeps running while they wait."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import pytest

from pytest_hub import AsyncCalls, AsyncHubApp, Calls, HubApp

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


ASYNC = """
import anyio
import pytest

import hubcore
from pytest_hub import AsyncHubApp, HubApp

pytestmark = pytest.mark.anyio


async def loop_ran_during(helper):
    # A task started just before the helper runs only if the helper lets the loop run.
    ran = anyio.Event()

    async def mark():
        ran.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(mark)
        result = await helper
        assert ran.is_set(), "the helper blocked the test's event loop"
    return result


def test_a_sync_test_gets_the_blocking_app(hub_app):
    assert type(hub_app) is HubApp


async def test_wait_for_sees_a_call_made_by_a_task_of_the_test(proxy, hub_app):
    assert type(hub_app) is AsyncHubApp
    caller = proxy("caller")

    async def bump_soon():
        await anyio.sleep(0.2)  # the call comes a moment after the wait began
        await caller.bump()

    async with anyio.create_task_group() as tg:
        tg.start_soon(bump_soon)
        record = await hub_app.calls.wait_for("counter.increment", timeout=5)
    assert (record.caller, record.callee) == ("worker", "background")
    hub_app.calls.assert_called_once("caller.bump")  # the test's own call, recorded too
    with pytest.raises(AssertionError, match=r"waited 0.2s for 2 call\\(s\\) of caller.bump"):
        await hub_app.calls.wait_for("caller.bump", count=2, timeout=0.2)


async def test_restart_then_call_an_existing_proxy(proxy, hub_app):
    counter = proxy("counter", timeout=10)
    before = await counter.get_pid()
    await loop_ran_during(hub_app.restart("background"))
    assert await counter.get_pid() == hub_app.processes["background.0"]["pid"] != before


async def test_kill_then_call_an_existing_proxy(proxy, hub_app):
    counter = proxy("counter", timeout=10)
    before = await counter.get_pid()
    await loop_ran_during(hub_app.kill("background"))
    assert await counter.get_pid() != before


async def test_kill_then_wait_ready(proxy, hub_app):
    counter = proxy("counter", timeout=10)
    before = await counter.get_pid()
    await hub_app.kill("background")
    await loop_ran_during(hub_app.wait_ready())
    assert hub_app.processes["background.0"]["state"] == "running"
    assert hub_app.processes["background.0"]["pid"] != before


async def test_inject_is_an_async_context_manager(proxy, hub_app):
    counter = proxy("counter")
    ran = anyio.Event()

    async def mark():
        ran.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(mark)
        async with hub_app.inject("counter.increment", error=ValueError("boom")):
            assert ran.is_set(), "inject blocked the test's event loop"
            with pytest.raises(ValueError, match="boom"):
                await counter.increment()
    assert await counter.increment() >= 1  # the fault is gone after the block
    async with hub_app.inject("counter.increment", crash=True):
        with pytest.raises(hubcore.ProcessCrashed):
            await counter.increment()  # an expected crash: the test passes


async def test_pause_stays_a_plain_with(proxy, hub_app):
    counter = proxy("counter", timeout=0.3)
    assert await counter.increment() >= 1
    with hub_app.pause("background"):
        with pytest.raises(hubcore.CallTimeout):
            await counter.increment()
    assert await counter.increment() >= 1
"""


@pytest.mark.timeout(180)
def test_async_tests_get_coroutine_helpers_that_never_block_the_loop(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """On asyncio and trio: ``calls.wait_for`` sees a call made by a task of the test,
    ``restart``/``kill`` then a call on an existing proxy reaches the new process,
    ``wait_ready`` and ``async with inject`` work, and ``pause`` is a plain ``with``."""
    inner.use_every_anyio_backend()
    pytester.makepyfile(test_async_app=ASYNC)
    run = inner.run(procfile=inner.toy)
    names = [
        "test_wait_for_sees_a_call_made_by_a_task_of_the_test",
        "test_restart_then_call_an_existing_proxy",
        "test_kill_then_call_an_existing_proxy",
        "test_kill_then_wait_ready",
        "test_inject_is_an_async_context_manager",
        "test_pause_stays_a_plain_with",
    ]
    backends = ("asyncio", "uvloop", "trio")
    expected = {f"{n}[{b}]": "passed" for n in names for b in backends}
    expected["test_a_sync_test_gets_the_blocking_app"] = "passed"
    assert run.outcomes == expected
    run.result.assert_outcomes(passed=len(expected))


WAITING = {"kill", "restart", "wait_ready"}
SHARED = {"rundir", "address", "token_file", "processes", "logs", "config", "pause"}


@pytest.mark.parametrize("name", sorted(WAITING | {"inject"}))
def test_async_hub_app_helpers_mirror_the_sync_ones(name: str) -> None:
    """Same names and arguments; what waits is a coroutine (inject: an async with)."""
    sync, async_ = getattr(HubApp, name), getattr(AsyncHubApp, name)
    assert inspect.signature(sync).parameters == inspect.signature(async_).parameters
    if name in WAITING:
        assert inspect.iscoroutinefunction(async_)
    else:
        assert inspect.isasyncgenfunction(inspect.unwrap(async_))


@pytest.mark.parametrize("name", sorted(SHARED))
def test_async_hub_app_facts_are_the_sync_ones(name: str) -> None:
    assert inspect.getattr_static(AsyncHubApp, name) is inspect.getattr_static(HubApp, name)


def test_async_calls_wait_for_mirrors_the_sync_one() -> None:
    sync, async_ = Calls.wait_for, AsyncCalls.wait_for
    assert inspect.signature(sync).parameters == inspect.signature(async_).parameters
    assert inspect.iscoroutinefunction(async_)
    assert set(dir(Calls)) == set(dir(AsyncCalls))
