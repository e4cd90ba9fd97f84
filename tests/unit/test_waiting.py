"""Parking a caller until its reply or its deadline, without a cancel scope or Event per call:
deadlines that fire on time, and only for the wait they belong to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from hubcore.rpc._waiting import AsyncioWaiting, TrioWaiting, Waiting, for_running_loop

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


class Slot:
    def __init__(self) -> None:
        self.waiter: Any = None


@pytest.fixture
async def waiting() -> AsyncIterator[Waiting]:
    parking = for_running_loop()
    async with anyio.create_task_group() as tg:
        if isinstance(parking, TrioWaiting):
            tg.start_soon(parking.run_timer)
        yield parking
        tg.cancel_scope.cancel()


async def _parked(waiting: Waiting, slot: Slot, timeout: float | None) -> float:
    """Park on ``slot``; return how long it took."""
    started = anyio.current_time()
    await waiting.wait(slot, timeout)
    return anyio.current_time() - started


async def test_waiting_deadline_passes(waiting: Waiting) -> None:
    took = await _parked(waiting, Slot(), 0.1)
    assert 0.09 <= took < 2.0
    assert await _parked(waiting, Slot(), 0) < 2.0


async def test_waiting_wake_resumes_the_parked_task_once(waiting: Waiting) -> None:
    slot = Slot()
    took: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _record(took, _parked(waiting, slot, 5.0)))
        await anyio.wait_all_tasks_blocked()
        waiting.wake(slot)
        waiting.wake(slot)  # a second reply wakes nobody
    assert took[0] < 4.0
    assert slot.waiter is None
    waiting.wake(slot)  # nobody parks: nothing happens


async def test_waiting_deadline_of_an_earlier_wait_does_not_wake_a_later_one(
    waiting: Waiting,
) -> None:
    """A stream's consumer parks on the same slot for each item: the deadline of a wait that
    ended early must not cut the next one short."""
    slot = Slot()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_parked, waiting, slot, 0.2)
        await anyio.wait_all_tasks_blocked()
        waiting.wake(slot)  # the first wait ends long before its deadline
    took: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _record(took, _parked(waiting, slot, 5.0)))
        await anyio.sleep(0.4)  # past the first wait's deadline
        assert not took, "the old deadline woke the new wait"
        waiting.wake(slot)
    assert 0.3 < took[0] < 4.0


async def test_waiting_cancelled_task_is_not_woken_again(waiting: Waiting) -> None:
    """An outer cancel scope cancels the parked task; a reply that comes afterwards finds
    nobody parked."""
    slot = Slot()
    with anyio.move_on_after(0.05):
        await waiting.wait(slot, None)
    assert slot.waiter is None
    waiting.wake(slot)
    assert await _parked(waiting, Slot(), 0.05) < 2.0  # the loop goes on


async def test_waiting_deadlines_of_finished_waits_do_not_pile_up(waiting: Waiting) -> None:
    """The deadlines of waits that ended early stay on the heap only until they outnumber the
    live ones."""
    assert isinstance(waiting, AsyncioWaiting | TrioWaiting)
    slot = Slot()
    for _ in range(1000):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_parked, waiting, slot, 60.0)
            await anyio.wait_all_tasks_blocked()
            waiting.wake(slot)
    assert len(waiting.deadlines) <= 2 * waiting.deadlines.parked + 65


async def _record(into: list[float], waited: Any) -> None:
    into.append(await waited)
