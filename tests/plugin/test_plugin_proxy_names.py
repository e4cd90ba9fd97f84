"""Through the ``proxy`` fixture, every public method of a service is ``proxy(name).<method>``
whatever its name (in sync and async tests), and a proxy asked for before its name is
published waits for it (in a sync test ``proxy(name)`` itself waits)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


PROCFILE = """
def procfile(app):
    app.service("clash", "clash:Clash").publish()
"""

CLASH = """
class Clash:
    \"\"\"Methods named like the proxy's former operations.\"\"\"

    def __init__(self, ctx):
        pass

    def call(self, x):
        return ["call", x]

    async def stream(self, n):
        for i in range(n):
            yield i

    def name(self):
        return "clash"

    def events(self):
        return ["events"]

    async def subscribe(self, topic):
        return ["subscribe", topic]

    def broadcast(self, *args):
        return ["broadcast", *args]

    def with_timeout(self, seconds):
        return ["with_timeout", seconds]

    def get_property(self, key="k"):
        return ["get_property", key]
"""

TESTS = """
import threading
from pathlib import Path

import pytest

import hubcore
import hubcore.sync


def test_sync_proxy_reaches_every_method(proxy, hub_app):
    clash = proxy("clash")
    assert clash.call(7) == ["call", 7]
    assert list(clash.stream(3)) == [0, 1, 2]
    assert clash.name() == "clash"
    assert clash.events() == ["events"]
    assert clash.subscribe("news") == ["subscribe", "news"]
    assert clash.broadcast(1) == ["broadcast", 1]
    assert clash.with_timeout(5) == ["with_timeout", 5]
    assert clash.get_property() == ["get_property", "k"]
    assert hubcore.sync.name_of(clash) == "clash"
    assert hubcore.sync.call(clash, "name") == "clash"
    hub_app.calls.assert_called_once("clash.call", 7)


@pytest.mark.anyio
async def test_async_proxy_reaches_every_method(proxy, hub_app):
    clash = proxy("clash")
    assert await clash.call(7) == ["call", 7]
    assert [i async for i in clash.stream(3)] == [0, 1, 2]
    assert await clash.name() == "clash"
    assert await clash.events() == ["events"]
    assert await clash.subscribe("news") == ["subscribe", "news"]
    assert await clash.broadcast(1) == ["broadcast", 1]
    assert await clash.with_timeout(5) == ["with_timeout", 5]
    assert await clash.get_property() == ["get_property", "k"]
    assert hubcore.name_of(clash) == "clash"
    assert await hubcore.call(clash, "name") == "clash"
    hub_app.calls.assert_called_once("clash.call", 7)


class Echo:
    def echo(self, value):
        return value


def test_sync_proxy_asked_for_before_its_name_is_published_waits(proxy, hub_app):
    token = Path(hub_app.token_file).read_bytes()
    with hubcore.sync.connect(hub_app.address, token=token, process="late") as mine:
        publish_soon = threading.Timer(0.2, mine.publish, ("late", Echo()))
        publish_soon.start()
        try:
            late = proxy("late", timeout=10)  # nothing publishes 'late' yet: this waits
            assert dir(late) == ["echo"]
            assert late.echo(5) == 5
        finally:
            publish_soon.join(10)
    with pytest.raises(hubcore.ObjectNotFound):
        proxy("late", timeout=0.2)  # withdrawn when its client closed


@pytest.mark.anyio
async def test_async_proxy_asked_for_before_its_name_is_published_waits(proxy, hub_app):
    pending = proxy("late").echo(5)  # nothing publishes 'late' yet
    token = Path(hub_app.token_file).read_bytes()
    async with hubcore.connect(hub_app.address, token=token, process="late") as mine:
        await mine.publish("late", Echo())
        assert await pending == 5
        unknown = "'late' has no remote method 'nope'; it has: echo$"
        with pytest.raises(AttributeError, match=unknown):
            proxy("late").nope
"""


@pytest.mark.timeout(120)
def test_proxy_fixture_reaches_methods_named_like_proxy_operations(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    inner.use_every_anyio_backend()
    pytester.makepyfile(procfile=PROCFILE, clash=CLASH, test_names=TESTS)
    run = inner.run(procfile=pytester.path / "procfile.py")
    async_tests = (
        "test_async_proxy_reaches_every_method",
        "test_async_proxy_asked_for_before_its_name_is_published_waits",
    )
    assert run.outcomes == {
        "test_sync_proxy_reaches_every_method": "passed",
        "test_sync_proxy_asked_for_before_its_name_is_published_waits": "passed",
        **{f"{t}[{b}]": "passed" for t in async_tests for b in ("asyncio", "uvloop", "trio")},
    }
    run.result.assert_outcomes(passed=8)
