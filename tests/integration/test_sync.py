"""The blocking facade: the same operations from plain threads, and a twin for every method."""

from __future__ import annotations

import inspect
import os
import signal

import anyio
import pytest

import hubcore
import hubcore.sync
from tests.integration.apps.objects import OPERATION_NAMES, Point

pytestmark = [pytest.mark.timeout(60)]


class Adder:
    unit = "apples"

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
    sub = hubcore.sync.subscribe(proxy, "done", seen.append)
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
        hubcore.sync.with_timeout(proxy, 0.2).sleep(5)
    with pytest.raises(hubcore.CallTimeout, match=r"info\.sleep did not answer within 0\.2s"):
        hubcore.sync.call(proxy, "sleep", (5,), timeout=0.2)
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


def test_sync_proxy_reaches_methods_named_like_operations(sync_hub, spawn):
    client, env = sync_hub
    spawn.python("-m", "tests.integration.apps.publisher", "clash=Clash", env=env)
    proxy = client.get_proxy("clash", timeout=15)
    assert sorted(dir(proxy)) == sorted(OPERATION_NAMES)
    assert proxy.call(7) == ["call", 7]
    assert list(proxy.stream(3)) == [0, 1, 2]
    assert proxy.name() == "clash"
    assert proxy.events() == ["events"]
    assert proxy.subscribe("news") == ["subscribe", "news"]
    assert proxy.broadcast(1, 2) == ["broadcast", 1, 2]
    assert proxy.with_timeout(5) == ["with_timeout", 5]
    assert proxy.get_property("x") == ["get_property", "x"]
    assert hubcore.sync.call(proxy, "name") == "clash"
    assert list(hubcore.sync.stream(proxy, "stream", [2])) == [0, 1]


def test_sync_operations_take_the_proxy_first(sync_hub):
    client, _env = sync_hub
    publication = client.publish("adder", Adder())
    proxy = client.get_proxy("adder", timeout=5)
    assert hubcore.sync.name_of(proxy) == "adder"
    assert hubcore.sync.call(proxy, "add", [2], {"b": 3}) == 5
    assert list(hubcore.sync.stream(proxy, "count", (), {"n": 3})) == [0, 1, 2]
    assert hubcore.sync.get_property(proxy, "unit") == "apples"
    assert hubcore.sync.broadcast(proxy, "add", 1, b=1) == {0: 2}
    slower = hubcore.sync.with_timeout(proxy, 7.5)
    assert isinstance(slower, hubcore.sync.Proxy)
    assert "timeout=7.5" in repr(slower)
    assert slower.add(1, 1) == 2
    seen = []
    subscription = hubcore.sync.subscribe(proxy, "done", seen.append)
    with hubcore.sync.events(proxy, "done") as events:
        assert publication.emit("done", 2) == 1
        event = next(iter(events))
    subscription.close()
    assert (event.source, event.data) == ("adder", 2)
    assert [e.data for e in seen] == [2]


@pytest.mark.parametrize("operation", OPERATION_NAMES)
def test_sync_former_operation_name_says_which_function_replaced_it(sync_hub, operation):
    client, _env = sync_hub
    client.publish("adder", Adder())
    proxy = client.get_proxy("adder", timeout=5)
    function = "name_of" if operation == "name" else operation
    with pytest.raises(AttributeError, match=rf"hubcore\.sync\.{function}\(proxy, \.\.\.\)"):
        getattr(proxy, operation)


def test_sync_call_and_stream_check_arguments_before_sending(sync_hub):
    client, _env = sync_hub
    client.publish("adder", Adder())
    proxy = client.get_proxy("adder", timeout=5)
    with pytest.raises(TypeError, match=r"call\(\): method must be a str, got int 7") as info:
        hubcore.sync.call(proxy, 7)
    assert not isinstance(info.value, hubcore.RemoteError)
    with pytest.raises(TypeError, match=r"stream\(\): args must be a tuple or list"):
        hubcore.sync.stream(proxy, "count", 3)  # at once, not at the first step
    with pytest.raises(TypeError, match=r"adder\.count is an async generator"):
        hubcore.sync.call(proxy, "count", (3,))
    with pytest.raises(TypeError, match=r"hubcore\.sync\.call\(\) takes a hubcore\.sync\.Proxy"):
        hubcore.sync.call("adder", "add", (1, 2))
    assert proxy.add(1, 2) == 3


def test_sync_proxy_waits_for_a_name_being_republished(sync_hub, spawn):
    """A call (or a stream) made while the name is not published blocks until it is again,
    within the proxy's timeout, then reaches the new process."""
    client, env = sync_hub
    first = spawn.python("-m", "tests.integration.apps.publisher", "info", env=env)
    proxy = client.get_proxy("info", timeout=20)
    assert proxy.get_pid() == first.pid
    os.kill(first.pid, signal.SIGKILL)
    hubcore.sync.portal().call(_until_unpublished, client._async, "info")
    # The new publisher needs far longer to start than these calls need to begin waiting.
    second = spawn.python("-m", "tests.integration.apps.publisher", "info", env=env)
    assert list(proxy.numbers(3)) == [0, 1, 2]
    assert proxy.get_pid() == second.pid
    os.kill(second.pid, signal.SIGKILL)
    hubcore.sync.portal().call(_until_unpublished, client._async, "info")
    spawn.python("-m", "tests.integration.apps.publisher", "info", env=env)
    with pytest.raises(AttributeError, match=r"'info' has no remote method 'nope'; it has: \w"):
        proxy.nope()


async def _until_unpublished(client: hubcore.Client, name: str) -> None:
    with anyio.fail_after(10):
        while client.directory.instances(name):
            await client.directory.changed.wait()
