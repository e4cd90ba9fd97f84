"""The call rules of docs/guarantees.md: order on a connection, and what a timeout cancels.

Calls on one connection reach the callee in the order they were made. The publisher is
stopped (SIGSTOP) while the caller makes its calls one after the other, so that they wait in
the socket together and the publisher reads them in one go: it must run them in the order
they were made, and each answer must reach its own call. The publisher runs on asyncio; the
caller on each backend.
"""

from __future__ import annotations

import os
import signal

import anyio
import pytest

import hubcore
from tests.integration.helpers import start_publisher

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

CALLS = 200


@pytest.mark.parametrize("method", ["record", "record_later"])
async def test_calls_on_one_connection_start_in_the_order_they_were_made(
    spawn, hub_env, client, method
):
    """Plain methods run one after the other in that order; coroutine methods start in it (on
    an asyncio callee: trio may start the tasks of one batch in another order)."""
    proc = await start_publisher(spawn, hub_env, client, "seq=Sequence")
    proxy = await client.get_proxy("seq", timeout=10)
    assert await proxy.record(-1) == -1  # the connection is open
    answers: dict[int, int] = {}

    async def call(n: int) -> None:
        answers[n] = await getattr(proxy, method)(n)

    os.kill(proc.pid, signal.SIGSTOP)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for n in range(CALLS):
                    tg.start_soon(call, n)
                    # Its CALL is written before the next call is made.
                    await anyio.wait_all_tasks_blocked()
                os.kill(proc.pid, signal.SIGCONT)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert answers == {n: n for n in range(CALLS)}
    assert await proxy.order() == [-1, *range(CALLS)]


async def test_a_plain_method_runs_to_its_end_after_the_caller_timed_out(spawn, hub_env, client):
    """A timeout sends CANCEL, but a plain method cannot be cancelled: it runs to its end, and
    holds its process's event loop meanwhile (the next call is answered only after it)."""
    await start_publisher(spawn, hub_env, client, "seq=Sequence")
    proxy = await client.get_proxy("seq", timeout=10)
    started = anyio.current_time()
    with pytest.raises(hubcore.CallTimeout) as caught:
        await proxy.block.with_timeout(0.2)(-5, 1.0)
    # The caller did not wait for the method (1 s): its timeout (0.2 s), and the answer the
    # callee's watchdog thread gives for the blocked loop (within 0.1 s of the deadline).
    assert anyio.current_time() - started < 0.9
    assert caught.value.remote_blocked
    assert await proxy.order() == [-5]  # it ran to its end all the same
    assert anyio.current_time() - started >= 1.0  # and nothing else ran meanwhile
