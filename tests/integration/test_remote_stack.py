"""Where a callee was stuck when a call timed out: the remote stack, with real processes.

The callee answers the caller's CANCEL with the frames its coroutine method was suspended in,
and its watchdog thread answers for a plain method that holds its event loop past the deadline;
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


def _loop(anyio_backend: object) -> str:
    """The TEST_LOOP of a publisher on the event loop ``anyio_backend`` names."""
    if isinstance(anyio_backend, tuple):
        return "uvloop" if anyio_backend[1].get("use_uvloop") else anyio_backend[0]
    return str(anyio_backend)


def _blocking_in_sequence(error: hubcore.CallTimeout) -> None:
    """The answer came from the callee's watchdog: the plain method still runs, at its
    ``time.sleep``, innermost last, with nothing of hubcore's serving code."""
    assert error.remote_blocked, error
    assert "still running, a plain method holding its process's event loop" in str(error)
    stack = error.remote_stack
    assert stack, "no remote stack"
    assert stack[0].startswith(OBJECTS), stack  # the method is the outermost frame
    assert stack[0].endswith(" in block: `time.sleep(seconds)`"), stack
    assert not any("hubcore/rpc/" in line for line in stack), stack


@pytest.mark.anyio
async def test_remote_stack_of_a_plain_method_that_holds_the_callee_loop(
    spawn, hub_env, client, anyio_backend
):
    """A plain method blocks the callee's loop, which reads no CANCEL until it returns: the
    callee's watchdog thread answers at the deadline, from the loop thread's frames, long
    before the method ends (on the callee's asyncio, uvloop or trio)."""
    env = {**hub_env, "TEST_LOOP": _loop(anyio_backend)}
    await start_publisher(spawn, env, client, "seq=Sequence")
    seq = await client.get_proxy("seq")
    started = time.monotonic()
    with pytest.raises(hubcore.CallTimeout) as caught:
        await hubcore.call(seq, "block", (1, 60), timeout=0.3)
    assert time.monotonic() - started < 0.3 + 5  # not the method's 60 s (load: a wide bound)
    assert caught.value.call == "seq.block"
    _blocking_in_sequence(caught.value)


@pytest.mark.anyio
async def test_the_connection_goes_on_after_a_watchdog_answer(
    spawn, hub_env, client, anyio_backend
):
    """The method's own reply, sent when it returns, is dropped by the caller (it no longer
    waits for it), and so is the answer to the CANCEL: the next calls get their own."""
    env = {**hub_env, "TEST_LOOP": _loop(anyio_backend)}
    await start_publisher(spawn, env, client, "seq=Sequence")
    seq = await client.get_proxy("seq")
    with pytest.raises(hubcore.CallTimeout) as caught:
        await hubcore.call(seq, "block", (1, 1.5), timeout=0.3)
    _blocking_in_sequence(caught.value)
    assert await hubcore.call(seq, "order", timeout=10) == [1]  # it ran to its end
    assert await hubcore.call(seq, "block", (2, 0), timeout=10) == 2


def test_remote_stack_through_a_blocking_call(sync_hub, spawn):
    client, env = sync_hub
    spawn.python("-m", "tests.integration.apps.publisher", "info", env=env)
    info = client.get_proxy("info", timeout=15)
    assert hubcore.sync.call(info, "counts")["sleeping"] == 0  # published, connected
    with pytest.raises(hubcore.CallTimeout) as caught:
        hubcore.sync.call(info, "sleep", (30,), timeout=0.3)
    assert caught.value.call == "info.sleep"
    _sleeping_in_info(caught.value.remote_stack)


def test_remote_stack_of_a_plain_method_through_a_blocking_call(sync_hub, spawn):
    client, env = sync_hub
    spawn.python("-m", "tests.integration.apps.publisher", "seq=Sequence", env=env)
    seq = client.get_proxy("seq", timeout=15)
    assert hubcore.sync.call(seq, "order") == []  # published, connected
    started = time.monotonic()
    with pytest.raises(hubcore.CallTimeout) as caught:
        hubcore.sync.call(seq, "block", (1, 60), timeout=0.3)
    assert time.monotonic() - started < 0.3 + 5
    assert caught.value.call == "seq.block"
    _blocking_in_sequence(caught.value)
