"""A hub under abuse: out of file descriptors, and flooded with connections it must refuse.

Both keep serving the connections that are there, and both log a few lines, never one per
connection or per attempt.
"""

from __future__ import annotations

import contextlib
import logging
import re
import resource
import secrets
import subprocess
import time
from pathlib import Path

import anyio
import pytest

import hubcore
from hubcore.protocol import NONCE_SIZE, PROTOCOL_VERSION, Auth, Hello, encode_frame
from hubcore.rpc._refusals import INTERVAL
from tests.conftest import Spawner
from tests.integration.helpers import eventually
from tests.lines import Lines

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

_COUNTED = re.compile(r"refused (\d+) connections? in the last")


class _Echo:
    def echo(self, value: object) -> object:
        return value


def _flood_size() -> int:
    """900 connections, or fewer where the test process may not open twice as many files."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(100, min(900, (soft - 200) // 2))


def _refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "hub refused" in r.getMessage()]


def _logged_count(lines: list[str]) -> int:
    """How many refusals the log lines account for."""
    return sum(int(m.group(1)) if (m := _COUNTED.search(line)) else 1 for line in lines)


async def test_a_flood_of_refused_connections_is_logged_once_a_second(hub, client, caplog):
    """Hundreds of connections that say nothing, hang up or bring a wrong token: a handful
    of lines that count them all, by reason, while calls and the hub keep answering."""
    caplog.set_level(logging.WARNING, "hubcore")
    hub.handshake_timeout = 2.0
    await client.publish("echo", _Echo())
    proxy = await client.get_proxy("echo", timeout=10)
    flood, wrong = _flood_size(), 20
    started = time.monotonic()
    # Each hang-up closes as soon as it connected, so the hub sees it end well within its
    # handshake timeout even on a loaded machine; the others stay silent until it expires.
    for _ in range(flood // 2):
        await (await anyio.connect_unix(hub.address)).aclose()  # hangs up before the handshake
    raws = [await anyio.connect_unix(hub.address) for _ in range(flood - flood // 2)]
    try:
        for _ in range(wrong):
            await _impostor(hub.address)
        for i in range(20):  # meanwhile, the real work goes on
            assert await proxy.echo(i) == i
            assert await client.hub_call("ping") == "pong"

        async def all_logged() -> bool:
            return _logged_count(_refusal_lines(caplog)) == flood + wrong

        await eventually(all_logged, timeout=60)
    finally:
        for raw in raws:
            await raw.aclose()
    lines = _refusal_lines(caplog)
    elapsed = time.monotonic() - started
    assert hub.refusals.total == flood + wrong
    assert len(lines) <= elapsed / INTERVAL + 2, lines
    text = "\n".join(lines)
    assert "wrong token" in text
    assert "did not complete the handshake within 2 s" in text
    assert "closed the connection during the handshake" in text
    assert await proxy.echo("after") == "after"


async def _impostor(address: str) -> None:
    """A client that ignores the hub's proof and answers with a wrong one of its own."""
    stream = await anyio.connect_unix(address)
    async with stream:
        nonce = secrets.token_bytes(NONCE_SIZE)
        await stream.send(encode_frame(Hello(PROTOCOL_VERSION, nonce, {})))
        await stream.receive()  # the CHALLENGE
        await stream.send(encode_frame(Auth(bytes(32))))
        with (
            anyio.fail_after(10),
            contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError),
        ):
            while True:  # the hub's ERROR, then the end
                await stream.receive()


def _backend_name(anyio_backend: object) -> str:
    return "uvloop" if isinstance(anyio_backend, tuple) else str(anyio_backend)


async def _limited_hub(spawn: Spawner, address: Path, nofile: int, backend: str) -> Lines:
    """A hub process at ``address`` with ``nofile`` descriptors; its stderr, once it listens."""
    proc = spawn.python(
        "-m",
        "tests.integration.apps.limited_hub",
        str(address),
        str(nofile),
        backend,
        "60",  # the raw connections below keep their descriptors until they hang up
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    await anyio.to_thread.run_sync(out.wait_for, "READY", 30)
    return err


async def test_out_of_descriptors_the_hub_serves_what_it_has_then_accepts_again(
    spawn, rundir, anyio_backend
):
    """The hub at its descriptor limit: the connections it has are served, one line says it
    cannot accept, and once descriptors are free it accepts again (one line, with a count)."""
    address = rundir / "hub.sock"
    err = await _limited_hub(spawn, address, 48, _backend_name(anyio_backend))
    token = (rundir / "token").read_bytes()
    async with (
        hubcore.connect(address, token=token, process="pub") as pub,
        hubcore.connect(address, token=token, process="caller") as caller,
    ):
        await pub.publish("echo", _Echo())
        proxy = await caller.get_proxy("echo", timeout=10)
        raws = []
        try:
            for _ in range(60):  # more than the hub has descriptors for
                raws.append(await anyio.connect_unix(str(address)))
            await anyio.to_thread.run_sync(err.wait_for, "cannot accept connections: EMFILE", 30)
            assert await caller.hub_call("ping") == "pong"
            assert [info.name for info in await caller.objects()] == ["echo"]
            assert await proxy.echo(7) == 7
        finally:
            for raw in raws:
                await raw.aclose()
        async with hubcore.connect(address, token=token, process="late") as late:
            assert late.directory.names() == ("echo",)
        pattern = (
            r"accepts connections again, after [\d.]+ s during which accept\(\) failed \d+ time"
        )
        await anyio.to_thread.run_sync(err.wait_for, pattern, 30)
    assert err.count("cannot accept connections") == 1, err.text()
    assert err.count("accepts connections again") == 1, err.text()
