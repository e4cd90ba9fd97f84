"""Every public method of a published object is ``proxy.<name>``, whatever its name; the
proxy's own operations are functions that take the proxy first and check their arguments
before anything is sent; a proxy made while its name is not published waits for it."""

from __future__ import annotations

import os
import signal
from typing import Any

import anyio
import pytest

import hubcore
import hubcore.sync
from hubcore.transport._backend import running_backend
from tests.integration.apps.objects import OPERATION_NAMES
from tests.integration.helpers import start_publisher

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

#: What each former proxy attribute became.
FUNCTIONS = {name: name for name in OPERATION_NAMES} | {"name": "name_of"}


@pytest.fixture(
    params=[
        "asyncio",
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
        "trio",
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


class _Station:
    """A small published object: a property, a stream, a slow method, a plain one."""

    label = "station"

    def __init__(self, who: str) -> None:
        self.who = who

    def whoami(self) -> str:
        return self.who

    def echo(self, *args: Any, **kwargs: Any) -> Any:
        return [list(args), kwargs]

    async def ticks(self, n: int) -> Any:
        for i in range(n):
            yield i

    async def nap(self, seconds: float) -> str:
        await anyio.sleep(seconds)
        return "napped"


async def test_methods_named_like_proxy_operations_are_remote_methods(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "clash=Clash")
    proxy = await client.get_proxy("clash", timeout=10)
    assert sorted(dir(proxy)) == sorted(OPERATION_NAMES)
    assert await proxy.call(7) == ["call", 7]
    assert [i async for i in proxy.stream(3)] == [0, 1, 2]
    assert await proxy.name() == "clash"
    assert await proxy.events() == ["events"]
    assert await proxy.subscribe("news") == ["subscribe", "news"]
    assert await proxy.broadcast(1, 2) == ["broadcast", 1, 2]
    assert await proxy.with_timeout(5) == ["with_timeout", 5]
    assert await proxy.get_property("x") == ["get_property", "x"]
    assert await proxy.with_timeout.with_timeout(2)(3) == ["with_timeout", 3]  # the method's own
    # The same methods by name, through the operations:
    assert await hubcore.call(proxy, "call", (8,)) == ["call", 8]
    assert await hubcore.call(proxy, "name") == "clash"
    async with await hubcore.stream(proxy, "stream", [2]) as items:
        assert [i async for i in items] == [0, 1]


@pytest.mark.parametrize("operation", OPERATION_NAMES)
async def test_former_operation_name_says_which_function_replaced_it(client, operation):
    await client.publish("station", _Station("a"))
    proxy = await client.get_proxy("station", timeout=5)
    with pytest.raises(AttributeError) as info:
        getattr(proxy, operation)
    message = str(info.value)
    assert message.startswith(f"'station' has no remote method '{operation}'; it has: echo, ")
    assert f"hubcore.{FUNCTIONS[operation]}(proxy, ...)" in message
    assert f"hubcore.sync.{FUNCTIONS[operation]}(proxy, ...)" in message


async def test_property_read_as_a_method_points_to_get_property(client):
    await client.publish("station", _Station("a"))
    proxy = await client.get_proxy("station", timeout=5)
    with pytest.raises(AttributeError, match=r"hubcore\.get_property\(proxy, 'label'\)"):
        proxy.label  # noqa: B018
    assert await hubcore.get_property(proxy, "label") == "station"


async def test_operations_by_name_streams_properties_and_timeouts(client):
    await client.publish("station", _Station("a"))
    proxy = await client.get_proxy("station", timeout=5)
    assert hubcore.name_of(proxy) == "station"
    assert await hubcore.call(proxy, "echo", [1], {"k": 2}) == [[1], {"k": 2}]
    async with await hubcore.stream(proxy, "ticks", (), {"n": 3}) as items:
        assert [i async for i in items] == [0, 1, 2]
    assert await hubcore.get_property(proxy, "label") == "station"
    with pytest.raises(AttributeError, match="no property 'nope'"):
        await hubcore.get_property(proxy, "nope")
    with pytest.raises(hubcore.CallTimeout, match=r"station\.nap did not answer within 0\.2s"):
        await hubcore.call(proxy, "nap", (5,), timeout=0.2)
    fast = hubcore.with_timeout(proxy, 0.2)
    assert hubcore.name_of(fast) == "station"
    with pytest.raises(hubcore.CallTimeout, match=r"within 0\.2s"):
        await fast.nap(5)
    assert await proxy.nap(0.3) == "napped"  # the original keeps its own timeout


async def test_call_and_stream_check_the_method_locally(client):
    await client.publish("station", _Station("a"))
    proxy = await client.get_proxy("station", timeout=5)
    with pytest.raises(AttributeError, match="'station' has no remote method 'nope'") as info:
        await hubcore.call(proxy, "nope")
    assert not isinstance(info.value, hubcore.RemoteError)  # refused here, nothing was sent
    with pytest.raises(TypeError, match=r"station\.ticks is an async generator"):
        await hubcore.call(proxy, "ticks", (3,))
    with pytest.raises(TypeError, match=r"station\.whoami is not an async generator"):
        await hubcore.stream(proxy, "whoami")
    with pytest.raises(AttributeError, match="no remote method 'nope'"):
        await hubcore.stream(proxy, "nope")
    with pytest.raises(TypeError, match="use `async for`"):
        await proxy.ticks(3)


async def test_broadcast_events_and_subscribe(hub, client):
    await client.publish("station", _Station("a"))
    async with hubcore.connect(hub.address, token=hub.token, process="second") as other:
        publication = await other.publish("station", _Station("b"))
        proxy = await client.get_proxy("station", timeout=5)
        assert await hubcore.broadcast(proxy, "whoami") == {0: "a", 1: "b"}
        results = await hubcore.broadcast(proxy, "echo", 1, method="kw named like a parameter")
        assert results[1] == [[1], {"method": "kw named like a parameter"}]
        seen: list[hubcore.ObjectEvent] = []
        subscription = await hubcore.subscribe(proxy, "ping", seen.append)
        async with await hubcore.events(proxy, "ping") as events:
            assert publication.emit("ping", {"n": 1}) == 1
            with anyio.fail_after(5):
                event = await anext(events)
        assert (event.source, event.data, event.instance) == ("station", {"n": 1}, 1)
        assert [e.data for e in seen] == [{"n": 1}]  # the same arrival fed both
        await subscription.aclose()
        assert publication.emit("ping", 2) == 0


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "message"),
    [
        pytest.param(7, (), None, r"call\(\): method must be a str, got int 7", id="method"),
        pytest.param(
            "echo",
            "abc",
            None,
            r"args must be a tuple or list of positional arguments, got str 'abc' "
            r"\(one argument is written \('abc',\)\)",
            id="args-str",
        ),
        pytest.param("echo", 5, None, r"args must be a tuple or list .*got int 5", id="args-int"),
        pytest.param(
            "echo", (), [("k", 1)], r"kwargs must be a dict of keyword arguments", id="kwargs"
        ),
        pytest.param(
            "echo", (), {1: "x"}, r"kwargs keys must be argument names \(str\), got int 1", id="key"
        ),
    ],
)
async def test_call_with_bad_arguments_raises_before_sending(client, method, args, kwargs, message):
    await client.publish("station", _Station("a"))
    proxy = await client.get_proxy("station", timeout=5)
    assert await proxy.whoami() == "a"
    conn = client.existing_connection(client.directory.peek("station"))
    with pytest.raises(TypeError, match=message) as info:
        await hubcore.call(proxy, method, args, kwargs)
    assert not isinstance(info.value, hubcore.RemoteError)  # raised here, not by the callee
    assert client.existing_connection(client.directory.peek("station")) is conn
    assert conn is not None
    assert not conn.closed
    assert await proxy.whoami() == "a"


async def test_operations_refuse_bad_values_and_the_other_kind_of_proxy(client):
    await client.publish("station", _Station("a"))
    proxy = await client.get_proxy("station", timeout=5)
    with pytest.raises(TypeError, match=r"stream\(\): args must be a tuple or list"):
        await hubcore.stream(proxy, "ticks", 3)
    with pytest.raises(TypeError, match=r"get_property\(\): name must be a str, got int 3"):
        await hubcore.get_property(proxy, 3)
    with pytest.raises(TypeError, match=r"broadcast\(\): method must be a str"):
        await hubcore.broadcast(proxy, None)
    with pytest.raises(TypeError, match=r"subscribe\(\): callback must be callable"):
        await hubcore.subscribe(proxy, "ping", "not a function")
    with pytest.raises(TypeError, match=r"with_timeout\(\): timeout must be a number"):
        hubcore.with_timeout(proxy, "1s")
    with pytest.raises(ValueError, match=r"timeout must be >= 0"):
        hubcore.with_timeout(proxy, -1)
    with pytest.raises(TypeError, match=r"call\(\): timeout must be a number"):
        await hubcore.call(proxy, "whoami", timeout="1")
    blocking = hubcore.sync.Proxy(proxy)
    with pytest.raises(TypeError, match=r"for a blocking proxy use hubcore\.sync\.call"):
        await hubcore.call(blocking, "whoami")
    with pytest.raises(TypeError, match=r"for a hubcore\.Proxy use `await hubcore\.name_of"):
        hubcore.sync.name_of(proxy)
    with pytest.raises(TypeError, match=r"name_of\(\) takes a hubcore\.Proxy first, got str"):
        hubcore.name_of("station")


async def test_publish_refuses_a_method_a_proxy_cannot_reach(client, monkeypatch):
    tools = _Namespace(ok=lambda: 1)
    setattr(tools, "class", lambda: 2)
    with pytest.raises(hubcore.HubError) as info:
        await client.publish("tools", tools)
    assert str(info.value) == (
        "cannot publish 'tools': its method 'class' could not be called as proxy.class(...) "
        "because it is a Python keyword; rename it, start its name with _ to keep it local, or "
        "leave it out with publish(..., hidden=['class'])"
    )
    odd = _Namespace()
    setattr(odd, "two words", lambda: 3)
    with pytest.raises(hubcore.HubError, match=r"'two words'.*not a Python identifier"):
        await client.publish("odd", odd)
    assert await client.objects() == []  # nothing half-published
    # The reserved names come from the proxy class, whatever is added to it later.
    monkeypatch.setattr(hubcore.Proxy, "describe", lambda self: "", raising=False)
    with pytest.raises(hubcore.HubError, match=r"'describe'.*hubcore\.Proxy has an attribute"):
        await client.publish("station", _Describer())
    monkeypatch.undo()
    await client.publish("tools", tools, hidden=["class"])
    proxy = await client.get_proxy("tools", timeout=5)
    assert dir(proxy) == ["ok"]
    assert await proxy.ok() == 1


async def test_new_proxy_made_while_the_name_is_republished_waits(spawn, hub_env, client):
    """What the ``proxy`` fixture does in an async test during a restart: a proxy built from a
    directory that does not list the name; its calls wait for the name, then go through."""
    first = await start_publisher(spawn, hub_env, client, "info")
    os.kill(first.pid, signal.SIGKILL)
    await _until_unpublished(client, "info")
    proxy = hubcore.Proxy(client, "info", timeout=20, methods=())
    pid, numbers, missing = proxy.get_pid(), proxy.numbers(3), proxy.nope()  # nothing publishes
    second = spawn.python("-m", "tests.integration.apps.publisher", "info", env=hub_env)
    assert await pid == second.pid  # waited for the new publisher
    assert [i async for i in numbers] == [0, 1, 2]
    with pytest.raises(AttributeError, match=r"'info' has no remote method 'nope'; it has: \w"):
        await missing


async def test_pending_call_waits_checks_and_times_out(client):
    proxy = hubcore.Proxy(client, "later", timeout=5)
    echo, ticks, awaited_stream = proxy.echo(5), proxy.ticks(2), proxy.ticks(1)

    async def publish() -> None:
        await client.publish("later", _Station("a"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(publish)  # runs once the call below waits for the name
        assert await echo == [[5], {}]
    assert [i async for i in ticks] == [0, 1]
    with pytest.raises(TypeError, match=r"later\.ticks is an async generator"):
        await awaited_stream
    never = hubcore.Proxy(client, "never", timeout=0.2)
    with pytest.raises(hubcore.ObjectNotFound, match=r"no process published 'never' within 0\.2s"):
        await never.anything()


class _Namespace:
    def __init__(self, **methods: Any) -> None:
        self.__dict__.update(methods)


class _Describer:
    def describe(self) -> str:
        return "me"


async def _until_unpublished(client: hubcore.Client, name: str) -> None:
    with anyio.fail_after(10):
        while client.directory.instances(name):
            await client.directory.changed.wait()


async def test_uvloop_parameter_runs_uvloop(anyio_backend):
    """The uvloop cases above really ran on uvloop (anyio falls back to asyncio's loop quietly
    if an option is misspelt)."""
    if anyio_backend == "trio":
        assert running_backend() == "trio"
        return
    import asyncio

    loop_module = type(asyncio.get_running_loop()).__module__
    assert loop_module.startswith("uvloop") == isinstance(anyio_backend, tuple), loop_module
