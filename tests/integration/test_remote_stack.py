"""Where a callee was stuck when a call timed out: the remote stack, with real processes.

The callee answers the caller's CANCEL with the frames its coroutine method was suspended in;
the caller's ``CallTimeout`` carries them (``remote_stack``, innermost last)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import hubcore
from tests.integration.helpers import eventually, start_publisher

pytestmark = [pytest.mark.timeout(60)]

OBJECTS = str(Path(__file__).parent / "apps" / "objects.py")


def _sleeping_in_info(stack: tuple[str, ...]) -> None:
    """The stack goes down to ``Info.sleep``'s ``await`` and on into the event loop's sleep,
    with nothing of hubcore's serving wrappers."""
    assert stack, "no remote stack"
    mine = [line for line in stack if line.startswith(OBJECTS)]
    assert len(mine) == 1, stack
    assert mine[0].endswith(" in sleep: `await anyio.sleep(seconds)`"), stack
    assert stack.index(mine[0]) < len(stack) - 1, stack  # anyio's and the loop's sleep below
    assert not any("hubcore/rpc/_serving.py" in line for line in stack), stack
    assert len(stack) <= 20


@pytest.mark.anyio
async def test_remote_stack_of_a_coroutine_method_that_timed_out(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info")
    info = await client.get_proxy("info")
    started = time.monotonic()
    with pytest.raises(hubcore.CallTimeout) as caught:
        await hubcore.call(info, "sleep", (30,), timeout=0.3)
    assert time.monotonic() - started < 0.3 + 2  # the stack waits 0.25 s at most (and load)
    assert caught.value.call == "info.sleep"
    _sleeping_in_info(caught.value.remote_stack)

    async def cancelled() -> bool:
        return (await info.counts())["cancelled"] == 1

    await eventually(cancelled)


@pytest.mark.anyio
async def test_remote_stack_is_empty_when_the_method_is_not_suspended(spawn, hub_env, client):
    """A plain method blocks the callee's loop: nothing reads the CANCEL until it returns, and
    the caller gives up waiting for the stack after a quarter of a second."""
    await start_publisher(spawn, hub_env, client, "seq=Sequence")
    seq = await client.get_proxy("seq")
    started = time.monotonic()
    with pytest.raises(hubcore.CallTimeout) as caught:
        await hubcore.call(seq, "block", (1, 1.5), timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert caught.value.remote_stack == ()


def test_remote_stack_through_a_blocking_call(sync_hub, spawn):
    client, env = sync_hub
    spawn.python("-m", "tests.integration.apps.publisher", "info", env=env)
    info = client.get_proxy("info", timeout=15)
    assert hubcore.sync.call(info, "counts")["sleeping"] == 0  # published, connected
    with pytest.raises(hubcore.CallTimeout) as caught:
        hubcore.sync.call(info, "sleep", (30,), timeout=0.3)
    assert caught.value.call == "info.sleep"
    _sleeping_in_info(caught.value.remote_stack)
