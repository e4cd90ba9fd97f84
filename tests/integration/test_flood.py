"""A caller that sends calls faster than the callee serves them is held back, and memory stays
bounded on both sides: the callee runs at most MAX_SERVING calls of one connection at once and
stops reading while it holds more, so the kernel's buffers fill and the caller's writes wait."""

from __future__ import annotations

import tracemalloc

import anyio
import pytest

from hubcore.rpc._serving import MAX_SERVING
from tests.integration.helpers import start_publisher

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

CALLS = 2000
PAYLOAD = b"p" * (48 * 1024)  # inside the frame (below the BULK threshold): 94 MiB in all
SECONDS = 0.2  # each call's time on the callee: 2000 calls take 1.6 s at 256 at once
MIB = 1024 * 1024


async def test_flood_of_slow_calls_is_held_back_with_bounded_memory(spawn, hub_env, client):
    """Unbounded, the callee would read every call at once and hold all their frames, and the
    caller would encode them all into its transport's buffer."""
    await start_publisher(spawn, hub_env, client, "slow=Slow")
    proxy = await client.get_proxy("slow", timeout=60)
    await proxy.watch_memory()
    tracemalloc.start()
    try:
        sizes: list[int] = []

        async def one() -> None:
            # The first calls wait for one another until MAX_SERVING run at once (or 10 s
            # passed): the callee is full, whatever the load of the machine.
            sizes.append(await proxy.take(PAYLOAD, SECONDS, MAX_SERVING))

        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                for _ in range(CALLS):
                    tg.start_soon(one)
        _, caller_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    stats = await proxy.stats()
    assert sizes == [len(PAYLOAD)] * CALLS
    assert stats["done"] == CALLS
    assert stats["most"] == MAX_SERVING  # all it may, never more
    sent = CALLS * len(PAYLOAD)
    assert stats["peak"] < sent / 3, f"the callee held {stats['peak'] / MIB:.0f} MiB at once"
    assert caller_peak < sent / 3, f"the caller held {caller_peak / MIB:.0f} MiB at once"
