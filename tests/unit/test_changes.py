"""The change signal that the directory, the supervisor and an app broadcast with."""

from __future__ import annotations

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from hubcore._changes import Changes

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_changes_notify_wakes_every_waiter() -> None:
    changes = Changes()
    woken: list[int] = []

    async def waiter(n: int, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        await changes.wait()
        woken.append(n)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for n in range(3):
                await tg.start(waiter, n)
            assert woken == []
            changes.notify()
    assert sorted(woken) == [0, 1, 2]


async def test_changes_wait_is_for_the_next_notify_not_an_earlier_one() -> None:
    """A notify nobody waited for is not remembered: each wait needs a change after it."""
    changes = Changes()
    changes.notify()
    woken = anyio.Event()

    async def waiter() -> None:
        await changes.wait()
        woken.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert not woken.is_set()
            changes.notify()
            await woken.wait()


async def test_changes_serves_a_check_and_wait_loop() -> None:
    changes = Changes()
    state = {"count": 0}

    async def bump() -> None:
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
            state["count"] += 1
            changes.notify()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(bump)
            while state["count"] < 3:
                await changes.wait()
    assert state["count"] == 3
