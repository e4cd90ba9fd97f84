"""Calls between two real processes: values, errors, timeouts, lookups."""

from __future__ import annotations

import datetime as dt
import os

import anyio
import pytest

import hubcore
from tests.integration.apps.objects import Point
from tests.integration.helpers import eventually, start_publisher

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_call_reaches_the_publishing_process(spawn, hub_env, client):
    proc = await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info", timeout=10)
    assert await proxy.get_pid() == proc.pid != os.getpid()


async def test_call_round_trips_rich_values(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info")
    values = await proxy.types()
    assert values["tuple"] == (1, "a", (2, 3))
    assert values["set"] == {1, 2}
    assert values["frozen"] == frozenset({"x"})
    assert values["when"] == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert values["day"] == dt.date(2026, 1, 2)
    assert values["span"] == dt.timedelta(seconds=90)
    assert values["raw"] == b"\x00\xff"
    assert values["point"] == Point(1, 2)
    assert await proxy.move(Point(1, 2), 3) == Point(4, 2)
    assert await proxy.echo(1, k=(1, 2)) == [[1], {"k": (1, 2)}]


async def test_call_with_unencodable_argument_fails_before_sending(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info")
    before = (await proxy.counts())["calls"]
    with pytest.raises(TypeError, match=r"info\.echo: argument 1 \(object\) cannot be sent"):
        await proxy.echo(1, object())
    with pytest.raises(TypeError, match="argument 'flag'"):
        await proxy.echo(1, flag=object())
    assert (await proxy.counts())["calls"] == before


async def test_remote_builtin_exception_keeps_its_type_and_traceback(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info", process="keeper")
    proxy = await client.get_proxy("info")
    with pytest.raises(KeyError) as info:
        await proxy.fail("missing")
    err = info.value
    assert isinstance(err, hubcore.RemoteError)
    assert err.args == ("missing",)
    assert err.process == "keeper"
    assert "in fail" in err.remote_traceback
    assert "raise KeyError(key)" in err.remote_traceback


async def test_call_timeout_is_prompt_and_cancels_the_callee(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info", timeout=10)
    started = anyio.current_time()
    with pytest.raises(hubcore.CallTimeout) as info:
        await proxy.sleep.with_timeout(0.3)(30)
    late = anyio.current_time() - started - 0.3
    assert isinstance(info.value, TimeoutError)
    assert -0.005 < late < 0.05, f"CallTimeout came {late * 1000:.0f} ms after the deadline"

    async def callee_cancelled() -> bool:
        return bool((await proxy.counts())["cancelled"] == 1)

    await eventually(callee_cancelled)


async def test_proxy_timeout_applies_to_every_call(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info")
    proxy = hubcore.with_timeout(await client.get_proxy("info"), 0.2)
    with pytest.raises(hubcore.CallTimeout, match=r"info\.sleep did not answer within 0\.2"):
        await proxy.sleep(5)


async def test_get_proxy_of_unpublished_name_lists_what_exists(client):
    await client.publish("present", object())
    with pytest.raises(hubcore.ObjectNotFound, match="published now: present") as info:
        await client.get_proxy("absent", timeout=0.2)
    assert isinstance(info.value, LookupError)
    assert info.value.available == ("present",)
    with pytest.raises(hubcore.ObjectNotFound, match=r"; did you mean 'present'\? \(published"):
        await client.get_proxy("presnt", timeout=0.2)


async def test_proxy_lists_remote_methods_and_refuses_unknown_ones(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info")
    assert {"get_pid", "echo", "sleep", "numbers"} <= set(dir(proxy))
    assert "calls" not in dir(proxy)
    with pytest.raises(AttributeError, match="no remote method 'nope'"):
        proxy.nope  # noqa: B018
    with pytest.raises(
        AttributeError, match=r"'info' has no remote method 'eho'; did you mean 'echo'\?"
    ):
        proxy.eho  # noqa: B018
    assert await hubcore.get_property(proxy, "label") == "info-object"


async def test_objects_lists_names_instances_processes_and_methods(spawn, hub_env, client):
    proc = await start_publisher(spawn, hub_env, client, "a", "b", process="lister")
    objects = {o.name: o for o in await client.objects()}
    assert set(objects) == {"a", "b"}
    assert objects["a"].process == "lister"
    assert objects["a"].pid == proc.pid
    assert "get_pid" in objects["a"].methods
    assert "numbers" in objects["a"].streams


async def test_payload_limit_refuses_before_sending(hub):
    async with hubcore.connect(hub.address, token=hub.token, max_frame_size=1024) as small:
        await small.publish("echo", _Echo())
        proxy = await small.get_proxy("echo")
        with pytest.raises(hubcore.PayloadTooLarge, match="exceeds the limit of 1024"):
            await proxy.echo(b"x" * 2048)
        assert await proxy.echo(b"y" * 100) == b"y" * 100


async def test_large_payload_round_trips(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info")
    payload = os.urandom(16 * 2**20)
    assert await proxy.echo(payload) == payload


class _Echo:
    def echo(self, value: object) -> object:
        return value
