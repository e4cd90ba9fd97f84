"""A publisher restarts gracefully: the next call on an existing proxy reaches its successor.

The old publisher says GOODBYE on its connections and exits. If the caller's event loop was
blocked meanwhile (a blocking harness call in an async test), the GOODBYE and the end of the
stream are still unread when the next call goes out on the old connection: that call was never
taken, so it must go to the new publisher rather than fail with ``ConnectionLost``.
"""

from __future__ import annotations

import signal
import subprocess

import anyio
import anyio.to_thread
import pytest

import hubcore
from tests.conftest import Spawner
from tests.integration.helpers import wait_for_new

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture(
    params=["asyncio", pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"), "trio"]
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


def _start(spawn: Spawner, env: dict[str, str]) -> subprocess.Popen[bytes]:
    app = "tests.integration.apps.graceful"
    return spawn.python("-m", app, "info", env={**env, "HUBCORE_PROCESS": "pub"})


@pytest.mark.parametrize("blocked", [True, False], ids=["loop-blocked", "loop-free"])
async def test_call_after_a_graceful_restart_reaches_the_new_publisher(
    spawn: Spawner, hub_env: dict[str, str], client: hubcore.Client, blocked: bool
) -> None:
    first = _start(spawn, hub_env)
    await wait_for_new(client, "info", set(), first.pid)
    proxy = await client.get_proxy("info", timeout=15)
    assert await proxy.get_pid() == first.pid  # the connection to the first one is open
    first.send_signal(signal.SIGTERM)
    if blocked:  # this loop reads nothing until the first publisher has gone
        assert first.wait(timeout=10) == 0
    else:
        assert await anyio.to_thread.run_sync(first.wait, 10) == 0
    second = _start(spawn, hub_env)
    assert await proxy.get_pid() == second.pid  # waits for the name, within the timeout
