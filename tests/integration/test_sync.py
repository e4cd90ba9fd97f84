"""The blocking facade: the same operations from plain threads, and a twin for every method."""

from __future__ import annotations

import inspect
import os
import subprocess

import pytest

import hubcore
import hubcore.sync
from tests.integration.apps.objects import Point

pytestmark = [pytest.mark.timeout(60)]


@pytest.fixture
def sync_hub(spawn, rundir):
    """A hub in its own process (a blocking test has no event loop to run one in)."""
    proc = spawn.python(
        "-m", "tests.integration.apps.hub_process", str(rundir / "hub.sock"), stdout=subprocess.PIPE
    )
    with hubcore.sync.connect(rundir / "hub.sock", token=_wait_token(rundir, proc)) as client:
        yield (
            client,
            {
                "HUBCORE_ADDRESS": str(rundir / "hub.sock"),
                "HUBCORE_TOKEN_FILE": str(rundir / "token"),
            },
        )


def _wait_token(rundir, proc) -> bytes:
    line = proc.stdout.readline()  # the hub prints READY once it listens (bounded by the test)
    assert line.startswith(b"READY"), line
    return (rundir / "token").read_bytes()


class Adder:
    def add(self, a, b):
        return a + b

    def shift(self, point: Point) -> Point:
        return Point(point.x + 1, point.y)

    async def count(self, n):
        for i in range(n):
            yield i


def test_sync_publish_and_call(sync_hub):
    client, _env = sync_hub
    publication = client.publish("adder", Adder())
    proxy = client.get_proxy("adder", timeout=5)
    assert proxy.add(2, 3) == 5
    assert proxy.shift(Point(1, 1)) == Point(2, 1)
    assert list(proxy.count(4)) == [0, 1, 2, 3]
    assert {"add", "shift", "count"} <= set(dir(proxy))
    with pytest.raises(AttributeError):
        proxy.subtract  # noqa: B018
    with pytest.raises(TypeError, match="argument 1"):
        proxy.add(1, object())
    assert [o.name for o in client.objects()] == ["adder"]
    seen = []
    sub = proxy.subscribe("done", seen.append)
    assert publication.emit("done", 1) == 1
    proxy.add(0, 0)  # a round trip on the same connection: the event arrived before its reply
    sub.close()
    assert [e.data for e in seen] == [1]


def test_sync_errors_cross_as_in_async(sync_hub, spawn):
    client, env = sync_hub
    spawn.python("-m", "tests.integration.apps.publisher", "info", env=env)
    proxy = client.get_proxy("info", timeout=15)
    with pytest.raises(KeyError):
        proxy.fail("x")
    with pytest.raises(hubcore.CallTimeout):
        proxy.with_timeout(0.2).sleep(5)
    with pytest.raises(hubcore.ObjectNotFound):
        client.get_proxy("never", timeout=0.1)
    assert proxy.get_pid() != os.getpid()


def test_sync_has_a_twin_for_every_public_async_method():
    pairs = [
        (hubcore.Client, hubcore.sync.Client),
        (hubcore.Proxy, hubcore.sync.Proxy),
        (hubcore.Publication, hubcore.sync.Publication),
    ]
    for async_cls, sync_cls in pairs:
        for name, _fn in inspect.getmembers(async_cls, inspect.iscoroutinefunction):
            if name.startswith("_") or name in {"aclose", "hub_call", "resolve", "connection"}:
                continue
            assert hasattr(sync_cls, name), f"hubcore.sync.{sync_cls.__name__} lacks {name}()"
    for name in ("connect", "publish_object", "get_proxy"):
        assert callable(getattr(hubcore.sync, name))
