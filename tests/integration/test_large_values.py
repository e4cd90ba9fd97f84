"""A large binary value crosses with at most two copies of it held at once on each side (one
where CPython lets the value be the buffer it was received into), measured as the peak of
Python's allocations (tracemalloc) in the caller and in the publisher."""

from __future__ import annotations

import tracemalloc

import pytest

from tests.integration.helpers import start_publisher

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SIZE = 16 * 1024 * 1024
SLACK = 1024 * 1024  # frames, buffers and bookkeeping besides the copies


async def test_large_value_echo_holds_at_most_two_copies_on_each_side(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "large=Large")
    proxy = await client.get_proxy("large", timeout=30)
    payload = bytes(range(256)) * (SIZE // 256)  # the caller's own: not a copy
    await proxy.watch_memory()
    tracemalloc.start()
    try:
        for _ in range(3):
            assert await proxy.echo(payload) == payload  # the result is freed each time
        _, caller_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    callee_peak = await proxy.peak()
    assert caller_peak <= 2 * SIZE + SLACK, f"caller: {caller_peak / SIZE:.2f} copies at once"
    assert callee_peak <= 2 * SIZE + SLACK, f"callee: {callee_peak / SIZE:.2f} copies at once"
