"""Helpers for integration tests: start publisher processes and wait for their names."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable

import anyio

import hubcore
from tests.conftest import Spawner


async def start_publisher(
    spawn: Spawner,
    env: dict[str, str],
    client: hubcore.Client,
    *names: str,
    process: str = "pub",
    instance: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start a publisher process and return once all its names are published (bounded).

    A name is published with an ``Info``; ``name=Class``, with that class of ``apps.objects``.
    """
    published = [n.partition("=")[0] for n in names]
    generations = {i.generation for n in published for i in client.directory.instances(n)}
    extra = {"HUBCORE_PROCESS": process}
    if instance is not None:
        extra["HUBCORE_INSTANCE"] = str(instance)
    proc = spawn.python("-m", "tests.integration.apps.publisher", *names, env={**env, **extra})
    for name in published:
        await wait_for_new(client, name, generations, proc.pid)
    return proc


async def wait_for_new(
    client: hubcore.Client, name: str, old: set[int], pid: int, timeout: float = 15.0
) -> hubcore.ObjectInfo:
    """Wait until ``pid`` publishes ``name`` in a generation not in ``old``."""
    with anyio.fail_after(timeout):
        while True:
            changed = client.directory.changed
            for info in client.directory.instances(name):
                if info.pid == pid and info.generation not in old:
                    return info
            await changed.wait()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds, for effects in another process that send no signal back
    (a CANCEL is one-way). Bounded; the poll interval is short against the bound."""
    with anyio.fail_after(timeout):
        while not await check():  # noqa: ASYNC110 (the state lives in another process)
            await anyio.sleep(0.01)
