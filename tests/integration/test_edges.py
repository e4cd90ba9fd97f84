"""Edge cases found in review: round robin through attributes, clean leaves, limits, sharing."""

from __future__ import annotations

import os
import signal
import sys

import anyio
import pytest

import hubcore

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


class _Who:
    def __init__(self, name: str) -> None:
        self.name = name

    def who(self) -> str:
        return self.name

    async def wait(self, seconds: float) -> str:
        await anyio.sleep(seconds)
        return self.name

    def echo(self, value: object) -> object:
        return value


async def test_round_robin_through_attribute_calls_visits_every_instance(hub, client):
    others = [hubcore.connect(hub.address, token=hub.token) for _ in range(3)]
    for i, other in enumerate(others):
        await other.__aenter__()
        await other.publish("rr", _Who(f"p{i}"))
    try:
        proxy = await client.get_proxy("rr")
        seen = [await proxy.who() for _ in range(6)]
        assert sorted(seen[:3]) == ["p0", "p1", "p2"]
        assert seen[3:] == seen[:3]
    finally:
        for other in reversed(others):
            await other.__aexit__(None, None, None)


async def test_publisher_leaving_cleanly_is_not_a_crash(hub, client):
    errors: list[BaseException] = []
    published, leave = anyio.Event(), anyio.Event()

    async def publisher() -> None:
        async with hubcore.connect(hub.address, token=hub.token) as leaver:
            await leaver.publish("leaving", _Who("x"))
            published.set()
            await leave.wait()

    async def call(proxy: hubcore.Proxy) -> None:
        try:
            await proxy.wait(10)
        except hubcore.HubError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(publisher)
        await published.wait()
        proxy = await client.get_proxy("leaving", timeout=5)
        tg.start_soon(call, proxy)
        await proxy.who()  # the wait is in flight once this round trip is done
        leave.set()
    (error,) = errors
    assert type(error) is hubcore.ConnectionLost, error


async def test_frame_limit_mismatch_is_not_taken_for_a_crash(hub, client):
    async with hubcore.connect(hub.address, token=hub.token, max_frame_size=1024) as small:
        await small.publish("small", _Who("s"))
        proxy = await client.get_proxy("small")
        with pytest.raises(hubcore.ConnectionLost) as info:
            await proxy.echo(b"x" * 4096)
    assert not isinstance(info.value, hubcore.ProcessCrashed)
    assert "broke the protocol" in str(info.value)


async def test_two_clients_of_one_process_publish_side_by_side(hub, client):
    async with (
        hubcore.connect(hub.address, token=hub.token, process="same") as a,
        hubcore.connect(hub.address, token=hub.token, process="same") as b,
    ):
        await a.publish("first", _Who("a"))
        await b.publish("second", _Who("b"))
        assert await (await client.get_proxy("first")).who() == "a"
        assert await (await client.get_proxy("second")).who() == "b"


async def test_publishing_a_name_twice_from_one_client_is_refused(client):
    await client.publish("once", _Who("a"))
    with pytest.raises(hubcore.HubError, match="already published by this client"):
        await client.publish("once", _Who("b"))


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_sync_module_functions_use_the_environment(hub_env, anyio_backend):
    """hubcore.sync.publish_object/get_proxy in a plain script, from the environment."""
    code = (
        "import hubcore.sync as s\n"
        "class W:\n    def who(self): return 'sync'\n"
        "s.publish_object('sync-obj', W())\n"
        "print(s.get_proxy('sync-obj', timeout=5).who())\n"
    )
    env = {**os.environ, **hub_env}
    out = await anyio.run_process([sys.executable, "-c", code], env=env)
    assert out.stdout.decode().strip() == "sync"


class PageError(ValueError):
    """A user exception: callers catch it by its builtin base."""


class _Raiser:
    def fail(self) -> None:
        raise PageError("cannot load http://x/")


async def test_user_exception_is_caught_by_its_builtin_base(client):
    await client.publish("raiser", _Raiser())
    proxy = await client.get_proxy("raiser")
    with pytest.raises(ValueError, match="cannot load") as info:
        await proxy.fail()
    assert info.value.remote_type == "PageError"


async def test_hidden_attributes_are_not_callable_remotely(client):
    await client.publish("svc", _Who("h"), hidden={"echo"})
    proxy = await client.get_proxy("svc")
    assert "echo" not in dir(proxy)
    assert "who" in dir(proxy)
    with pytest.raises(AttributeError):
        proxy.echo  # noqa: B018


async def test_remote_error_names_the_instance_the_hub_assigned(hub, client):
    await client.publish("twice", _Raiser())
    async with hubcore.connect(hub.address, token=hub.token, process="second") as other:
        publication = await other.publish("twice", _Raiser())
        proxy = await client.get_proxy("twice", instance=publication.info.instance)
        with pytest.raises(ValueError, match="cannot load") as info:
            await proxy.fail()
    assert (info.value.process, info.value.instance) == ("second", 1)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_stream_from_a_paused_publisher_times_out_within_the_proxy_timeout(
    hub, client, spawn, hub_env, anyio_backend
):
    """Opening the connection counts against the timeout, for streams as for calls."""
    proc = spawn.python("-m", "tests.integration.apps.publisher", "paused", env=hub_env)
    await client.get_proxy("paused", timeout=15)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        proxy = hubcore.with_timeout(await client.get_proxy("paused"), 0.3)
        started = anyio.current_time()
        with pytest.raises(hubcore.CallTimeout):
            async for _ in proxy.numbers(3):
                pass
        assert anyio.current_time() - started < 3
    finally:
        os.kill(proc.pid, signal.SIGCONT)
