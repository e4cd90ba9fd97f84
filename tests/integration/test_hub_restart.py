"""A hub killed with SIGKILL and started again on the same address, under running clients.

The hub runs as ``hubcore hub`` in a process of its own; the clients are the test's (on
asyncio, uvloop and trio) and a publisher process. Clients reconnect by themselves, publish
their objects again and keep their proxies and subscriptions; while the hub is gone, calls to
known names go on peer to peer, and what needs the hub fails after its timeout naming it. An
app's worker does not reconnect: its hub going away means its supervisor is gone.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

import hubcore
from tests.conftest import Spawner
from tests.integration.helpers import eventually, wait_for_new
from tests.lines import Lines

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

BASIC = Path(__file__).parents[1] / "apps" / "basic" / "procfile.py"


class HubProcess:
    """``hubcore hub --address ADDRESS`` in a process of its own, killed and started again."""

    def __init__(self, spawn: Spawner, address: Path) -> None:
        self.spawn = spawn
        self.address = address
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        """Start it; return once it listens."""
        argv = ("-m", "hubcore.cli", "hub", "--address", str(self.address))
        self.proc = self.spawn.python(*argv, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        out = Lines(self.proc.stdout)
        await anyio.to_thread.run_sync(out.wait_for, "hubcore: hub at", 30)

    def kill(self) -> None:
        """``kill -9``: nothing is cleaned up, the socket and token files stay behind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)


class _Counter:
    def __init__(self) -> None:
        self.total = 0

    def add(self, n: int) -> int:
        self.total += n
        return self.total


async def _wait_down(*clients: hubcore.Client) -> None:
    async def down() -> bool:
        return all(c.hub_down_since is not None for c in clients)

    await eventually(down, timeout=10)


async def _wait_event(events: list[hubcore.ObjectEvent], generation: int) -> None:
    """Wait for an event of the publication ``generation`` (the publisher ticks every 50 ms)."""

    async def arrived() -> bool:
        return any(e.generation == generation for e in events)

    await eventually(arrived, timeout=15)


async def test_clients_come_back_after_the_hub_is_killed_and_restarted(spawn, rundir, caplog):
    caplog.set_level(logging.INFO, "hubcore")
    address = rundir / "hub.sock"
    hub = HubProcess(spawn, address)
    await hub.start()
    env = {"HUBCORE_ADDRESS": str(address), "HUBCORE_PROCESS": "pub"}  # token: beside it
    publisher = spawn.python("-m", "tests.integration.apps.publisher", "info", env=env)
    async with (
        hubcore.connect(address, process="caller") as caller,
        hubcore.connect(address, process="local") as local,
    ):
        leaver = await hubcore.connect(address, process="leaver").__aenter__()
        await leaver.publish("leaver", _Counter())
        leaving = hubcore.with_timeout(await caller.get_proxy("leaver", timeout=5), 1.0)
        before = await wait_for_new(caller, "info", set(), publisher.pid)
        publication = await local.publish("local", _Counter())
        published = publication.info
        proxy = await caller.get_proxy("info", timeout=5)
        counter = await caller.get_proxy("local", timeout=5)
        assert await counter.add(1) == 1
        events: list[hubcore.ObjectEvent] = []
        subscription = await hubcore.subscribe(proxy, "*", events.append)
        await _wait_event(events, before.generation)

        hub.kill()
        await _wait_down(caller, local)

        # Calls to names the client knows go on, peer to peer, and so do events.
        assert await proxy.get_pid() == publisher.pid
        assert await counter.add(1) == 2
        seen = len(events)

        async def more_events() -> bool:
            return len(events) > seen

        await eventually(more_events, timeout=10)
        # What needs the hub fails after its timeout, and says which hub, since when.
        started = anyio.current_time()
        with pytest.raises(hubcore.HubUnreachable) as caught:
            await caller.get_proxy("nosuch", timeout=1.0)
        assert anyio.current_time() - started >= 0.9
        assert caught.value.address == str(address)
        assert caught.value.since == caller.hub_down_since
        assert f"the hub at {address} is unreachable since " in str(caught.value)
        with pytest.raises(hubcore.HubUnreachable):
            await caller.hub_call("ping", timeout=0.3)
        # A call whose publisher left meanwhile needs the hub to find another: the same.
        await leaver.aclose()
        started = anyio.current_time()
        with pytest.raises(hubcore.HubUnreachable, match="no reachable instance of 'leaver'"):
            await leaving.add(1)
        assert anyio.current_time() - started >= 0.9
        old_token = (rundir / "token").read_bytes()

        await hub.start()

        assert (rundir / "token").read_bytes() != old_token  # clients re-read the file
        after = await wait_for_new(caller, "info", {before.generation}, publisher.pid)
        assert (after.instance, after.origin) == (before.instance, before.origin)

        async def both_up() -> bool:
            return caller.hub_down_since is None and local.hub_down_since is None

        await eventually(both_up, timeout=15)
        assert publication.generation > published.generation  # published again...
        assert (publication.info.instance, publication.info.origin) == (
            published.instance,
            published.origin,  # ... as the same object
        )
        assert await proxy.get_pid() == publisher.pid  # the proxies made before the kill
        assert await counter.add(1) == 3
        assert await caller.hub_call("ping") == "pong"
        async with hubcore.connect(address, process="late") as late:
            assert late.directory.names() == ("info", "local")
            assert await (await late.get_proxy("local")).add(1) == 4
        await _wait_event(events, after.generation)  # the subscription follows...
        assert "$restarted" not in {e.name for e in events}  # ... the same object
        await subscription.aclose()

    lines = [r.getMessage() for r in caplog.records if r.name == "hubcore.client"]
    lost = [line for line in lines if line.startswith(f"lost the hub at {address}: ")]
    back = [line for line in lines if line.startswith(f"reconnected to the hub at {address}")]
    assert len(lost) == 3, lines  # once per client and outage, not per attempt
    assert len(back) == 2, lines  # the leaver left before the hub came back
    assert sorted(lost + back) == sorted(lines)
    attempts = [int(re.search(r"\((\d+) attempts?\)", line).group(1)) for line in back]  # type: ignore[union-attr]
    assert min(attempts) >= 2  # the hub was away long enough for several attempts


async def test_a_client_given_its_token_as_bytes_gives_up_after_a_restart(spawn, rundir, caplog):
    """A restarted hub has a new token, which a client given bytes cannot learn: it says so
    once and stays disconnected, rather than retrying for ever."""
    caplog.set_level(logging.WARNING, "hubcore")
    address = rundir / "hub.sock"
    hub = HubProcess(spawn, address)
    await hub.start()
    token = (rundir / "token").read_bytes()
    async with hubcore.connect(address, token=token, process="fixed") as fixed:
        hub.kill()
        await hub.start()
        with anyio.fail_after(30):
            await fixed.hub_lost.wait()
        with pytest.raises(hubcore.ConnectionLost, match="token as bytes") as caught:
            await fixed.hub_call("ping")
        assert not isinstance(caught.value, hubcore.HubUnreachable)
        with pytest.raises(hubcore.ConnectionLost, match="lost the hub"):
            await fixed.get_proxy("anything", timeout=1)
    gave_up = [r for r in caplog.records if "gave up reconnecting" in r.getMessage()]
    assert len(gave_up) == 1


async def test_a_worker_stops_when_its_hub_goes_away(spawn, rundir):
    """An app's worker does not reconnect: a hub that goes away is a supervisor that died, and
    the worker stops (with its services' stop()), so that the app leaves no orphans."""
    spec = rundir / "app.json"
    spec.write_text(json.dumps(hubcore.load_procfile(BASIC).to_dict()))
    env = {
        "HUBCORE_APP_SPEC": str(spec),
        "HUBCORE_PROCESS": "background",
        "HUBCORE_INSTANCE": "0",
        "HUBCORE_SUPERVISOR_PID": str(os.getpid()),
    }
    ready = anyio.Event()
    async with hubcore.serve_hub(rundir / "hub.sock") as hub:
        hub.on_report = lambda _peer, kind, _data: ready.set() if kind == "ready" else None
        env |= {"HUBCORE_ADDRESS": hub.address, "HUBCORE_TOKEN_FILE": hub.token_file}
        worker = spawn.python("-m", "hubcore.worker", env=env, stdout=subprocess.PIPE)
        with anyio.fail_after(30):
            await ready.wait()
    # The hub is gone; nobody signalled the worker.
    code = await anyio.to_thread.run_sync(worker.wait, 30)
    assert worker.stdout is not None
    assert worker.stderr is not None
    assert code == 0, worker.stderr.read()
    assert b"counter stopping" in worker.stdout.read()  # its services were stopped
    assert b"the hub went away" in worker.stderr.read()


class _Emitter:
    def ping(self) -> str:
        return "pong"


async def test_a_hub_that_stopped_cleanly_took_the_peer_sockets_along(spawn, rundir):
    """A hub stopped with SIGTERM removes the directory it created, publishers' peer sockets
    included: a publisher opens a new listener and publishes its address; proxies and
    subscriptions follow, and events are not delivered twice."""
    address = rundir / "hub" / "hub.sock"  # a directory `hubcore hub` creates, and removes
    hub = HubProcess(spawn, address)
    await hub.start()
    async with (
        hubcore.connect(address, process="pub") as pub,
        hubcore.connect(address, process="caller") as caller,
    ):
        publication = await pub.publish("emitter", _Emitter())
        before = publication.info
        proxy = await caller.get_proxy("emitter", timeout=5)
        assert await proxy.ping() == "pong"
        events: list[hubcore.ObjectEvent] = []
        subscription = await hubcore.subscribe(proxy, "tick", events.append)

        assert hub.proc is not None
        hub.proc.send_signal(signal.SIGTERM)
        assert await anyio.to_thread.run_sync(hub.proc.wait, 30) == 0
        assert not address.parent.exists()
        await _wait_down(pub, caller)
        assert await proxy.ping() == "pong"  # the connection made before stays up
        await hub.start()

        async def both_up() -> bool:
            return pub.hub_down_since is None and caller.hub_down_since is None

        await eventually(both_up, timeout=15)
        after = publication.info
        assert after.address != before.address
        assert Path(after.address).exists()
        assert after.origin == before.origin
        async with hubcore.connect(address, process="late") as late:
            assert await (await late.get_proxy("emitter", timeout=5)).ping() == "pong"

        async def resubscribed() -> bool:  # the subscriber attaches to the new listener
            publication.emit("tick", "probe")
            return any(e.data == "probe" and e.generation == after.generation for e in events)

        await eventually(resubscribed, timeout=15)
        listeners = pub._dispatcher.objects["emitter"].subscribers["tick"]

        async def once() -> bool:  # and leaves the connection to the old one
            return len(listeners) == 1

        await eventually(once, timeout=10)
        assert await proxy.ping() == "pong"  # the round trip orders the probes before it
        events.clear()
        for n in range(5):
            publication.emit("tick", n)
        assert await proxy.ping() == "pong"  # events and results share the connection
        await eventually(_has_all(events, 5), timeout=10)
        assert [e.data for e in events] == [0, 1, 2, 3, 4]  # once each, on one connection
        await subscription.aclose()


def _has_all(events: list[hubcore.ObjectEvent], n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(events) >= n

    return check
