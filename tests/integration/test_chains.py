"""Chains of calls between real processes: the test calls ``relay`` (process ``web``), which
calls ``info`` (process ``backend``) while serving it. One deadline bounds the chain."""

from __future__ import annotations

import time

import pytest

import hubcore
from tests.integration.helpers import eventually, start_publisher

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def _chain(spawn, hub_env, client) -> tuple[hubcore.Proxy, hubcore.Proxy]:
    await start_publisher(spawn, hub_env, client, "info", process="backend")
    await start_publisher(spawn, hub_env, client, "relay=Relay", process="web")
    return await client.get_proxy("relay"), await client.get_proxy("info")


@pytest.mark.parametrize("method", ["relay", "relay_plain", "relay_blocking"])
async def test_chain_deadline_of_the_first_call_bounds_the_nested_call(
    spawn, hub_env, client, method
):
    """The relay's proxy waits 10 s by default, but the test's call gives the chain 1.5 s:
    the nested call gives up first, names its hop, and the backend's method is cancelled."""
    relay, info = await _chain(spawn, hub_env, client)
    assert await hubcore.call(relay, method, ("info", "echo", 7)) == 7  # a warm chain
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        await hubcore.call(relay, method, ("info", "sleep", 30), timeout=1.5)
    assert time.monotonic() - started < 5
    text = str(caught.value)
    assert f"relay.{method} → info.sleep did not answer within 1.", text
    assert " s left of 1.5 s" in text, text
    assert isinstance(caught.value, hubcore.RemoteError)  # the relay's error, naming the hop
    assert caught.value.remote_type == "CallTimeout"
    waiting = " in sleep: `await anyio.sleep(seconds)`"  # Info.sleep, where the backend was
    assert any(line.endswith(waiting) for line in caught.value.remote_stack), caught.value

    async def cancelled() -> bool:
        return (await info.counts())["cancelled"] == 1

    await eventually(cancelled)


@pytest.mark.parametrize("timeout", [2.0, None])
async def test_chain_served_method_sees_what_is_left_of_its_deadline(
    spawn, hub_env, client, timeout
):
    relay, _ = await _chain(spawn, hub_env, client)
    left = await hubcore.with_timeout(relay, timeout).left()  # None: no limit
    if timeout is None:
        assert left is None
    else:
        assert 0 < left <= timeout


async def test_chain_call_outside_any_chain_keeps_its_own_timeout_message(spawn, hub_env, client):
    _, info = await _chain(spawn, hub_env, client)
    with pytest.raises(hubcore.CallTimeout, match=r"^info\.sleep did not answer within 0.3s"):
        await hubcore.call(info, "sleep", (30,), timeout=0.3)
