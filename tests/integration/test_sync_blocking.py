"""hubcore.sync's calls on connections of the calling threads: real processes, real sockets.

A blocking call to a published name is sent and answered on a connection the calling thread
holds for the call, without the portal thread; only waiting for a name and asking the hub how
a process died go through it. These tests hold the calls to what the async calls do: results
and remote errors, a timeout that cancels the callee, a crash, a graceful restart, many threads.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import hubcore
import hubcore.sync
from hubcore.client._blocking import BlockingCalls
from hubcore.rpc._blocking import BlockingConnection
from tests.conftest import Spawner

pytestmark = [pytest.mark.timeout(60)]

SyncHub = tuple[hubcore.sync.Client, dict[str, str]]
WAIT = 10.0


def _publisher(spawn: Spawner, env: dict[str, str], app: str = "publisher") -> Any:
    return spawn.python("-m", f"tests.integration.apps.{app}", "info", env=env)


def _until(check: Callable[[], bool], what: str) -> None:
    """Wait until ``check()`` holds, for an effect in another process that sends nothing back
    (a CANCEL is one-way). Bounded; the poll interval is short against the bound."""
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"not within {WAIT:g} s: {what}"
        time.sleep(0.01)


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` in a thread; the list gets its result or the exception it raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_sync_call_goes_on_a_connection_of_its_own_not_through_the_portal(
    sync_hub: SyncHub, spawn: Spawner
) -> None:
    client, env = sync_hub
    publisher = _publisher(spawn, env)
    proxy = client.get_proxy("info", timeout=15)
    assert proxy.get_pid() == publisher.pid
    assert proxy.echo([1, "a"]) == [1, "a"]
    assert hubcore.sync.call(proxy, "echo", (2,), {"b": 3}, timeout=5) == [[2], {"b": 3}]
    assert hubcore.sync.get_property(proxy, "label") == "info-object"
    assert client._async._connections == {}  # the portal's client opened no peer connection
    assert len(client._calls._open) == 1  # one blocking connection, reused by every call


def test_sync_call_raises_the_remote_error_as_its_builtin_type(
    sync_hub: SyncHub, spawn: Spawner
) -> None:
    client, env = sync_hub
    _publisher(spawn, env)
    proxy = client.get_proxy("info", timeout=15)
    with pytest.raises(KeyError) as info:
        proxy.fail("missing")
    assert isinstance(info.value, hubcore.RemoteError)
    assert info.value.remote_type == "KeyError"
    assert "raise KeyError(key)" in info.value.remote_traceback
    with pytest.raises(TypeError, match="argument 0"):
        proxy.echo(object())  # cannot be sent: nothing left, the connection goes on
    assert proxy.echo(1) == 1


def test_sync_call_timeout_cancels_the_callee_and_the_connection_goes_on(
    sync_hub: SyncHub, spawn: Spawner
) -> None:
    client, env = sync_hub
    _publisher(spawn, env)
    proxy = client.get_proxy("info", timeout=15)
    started = time.monotonic()
    with pytest.raises(hubcore.CallTimeout, match=r"info\.sleep did not answer within 0\.3s"):
        hubcore.sync.with_timeout(proxy, 0.3).sleep(30)
    assert 0.3 <= time.monotonic() - started < 5
    _until(lambda: proxy.counts()["cancelled"] == 1, "the callee's sleep was cancelled")
    assert proxy.counts()["sleeping"] == 0
    assert len(client._calls._open) == 1  # the same connection took every call


def test_sync_call_in_flight_when_the_publisher_dies_raises_process_crashed(
    sync_hub: SyncHub, spawn: Spawner
) -> None:
    client, env = sync_hub
    publisher = _publisher(spawn, env)
    proxy = client.get_proxy("info", timeout=15)
    thread, outcome = _in_thread(lambda: proxy.sleep(30))
    _until(lambda: proxy.counts()["sleeping"] == 1, "the call is running in the publisher")
    started = time.monotonic()
    os.kill(publisher.pid, signal.SIGKILL)
    thread.join(WAIT)
    assert time.monotonic() - started < 5  # the crash is noticed, not the timeout
    (error,) = outcome
    assert type(error) is hubcore.ProcessCrashed, error
    assert error.pid == publisher.pid
    assert "died with calls in flight" in str(error)


@contextmanager
def _frozen_event_loop() -> Iterator[None]:
    """Stop the portal thread's event loop for the block: the client's mirror of the directory
    then learns nothing, as when its loop is busy."""
    frozen, release = threading.Event(), threading.Event()

    def hold() -> None:
        frozen.set()
        release.wait(WAIT)

    thread = threading.Thread(target=hubcore.sync.portal().call, args=(hold,), daemon=True)
    thread.start()
    assert frozen.wait(WAIT)
    try:
        yield
    finally:
        release.set()
        thread.join(WAIT)


def _published_by(env: dict[str, str], name: str, pid: int) -> bool:
    """Whether the hub lists ``name`` from ``pid`` (asked on a connection of this thread)."""
    token = Path(env["HUBCORE_TOKEN_FILE"]).read_bytes()
    hub = BlockingConnection.open(env["HUBCORE_ADDRESS"], token, {"process": "t"}, label="hub")
    try:
        objects = hub.call(hubcore.protocol.HUB_TARGET, "objects", timeout=WAIT)
    finally:
        hub.close()
    return any(o["name"] == name and o["pid"] == pid for o in objects)


def test_sync_call_not_taken_by_a_leaving_publisher_goes_to_its_successor(
    sync_hub: SyncHub, spawn: Spawner
) -> None:
    """The first publisher leaves on purpose, and the call goes out on the connection to it
    before the client's mirror has heard (its event loop is busy): its GOODBYE says it took no
    call after the last, so the call never ran, and goes to the next publisher of the name."""
    client, env = sync_hub
    first = _publisher(spawn, env, "graceful")
    client.get_proxy("info", timeout=15)
    asked = threading.Event()

    def run(fn: Any) -> Any:
        asked.set()  # the call needs the event loop: to wait for the name again
        return hubcore.sync.portal().call(fn)

    async_client = client._async
    calls = BlockingCalls(
        async_client,
        lambda *args: run(partial(async_client.resolve, *args)),
        lambda conn: run(partial(async_client._crash_error, conn)),
    )
    try:
        assert _get_pid(calls) == first.pid
        assert not asked.is_set()
        with _frozen_event_loop():
            first.send_signal(signal.SIGTERM)
            assert first.wait(WAIT) == 0  # its GOODBYE waits, unread, on our connection
            second = _publisher(spawn, env, "graceful")
            _until(lambda: _published_by(env, "info", second.pid), "the successor published")
            thread, outcome = _in_thread(lambda: _get_pid(calls))
            assert asked.wait(WAIT)  # the first publisher did not take it: ask for the next
        thread.join(WAIT)
        assert outcome == [second.pid]
    finally:
        calls.close()


def _get_pid(calls: BlockingCalls) -> Any:
    return calls.call("info", "get_pid", (), None, instance=None, timeout=WAIT)


def test_sync_calls_from_64_threads_each_hold_a_connection_while_they_call(
    sync_hub: SyncHub, spawn: Spawner
) -> None:
    client, env = sync_hub
    _publisher(spawn, env)
    proxy = client.get_proxy("info", timeout=15)
    start = threading.Barrier(64)
    results: dict[int, list[Any]] = {}

    def worker(n: int) -> list[Any]:
        start.wait(WAIT)
        return [proxy.echo([n, i]) for i in range(20)]

    threads = [_in_thread(lambda n=n: results.setdefault(n, worker(n))) for n in range(64)]
    for thread, _outcome in threads:
        thread.join(WAIT)
    assert all(outcome == [[[n, i] for i in range(20)]] for n, (_t, outcome) in enumerate(threads))
    opened = list(client._calls._open)
    assert 1 <= len(opened) <= 64  # as many as were busy at once, never one per call
    assert proxy.counts()["calls"] == 64 * 20
    client.close()
    assert client._calls._open == set()
    assert all(conn.closed for conn in opened)


def test_sync_client_closing_ends_a_call_blocked_in_another_thread(
    sync_hub: SyncHub, spawn: Spawner
) -> None:
    client, env = sync_hub
    _publisher(spawn, env)
    proxy = client.get_proxy("info", timeout=15)
    thread, outcome = _in_thread(lambda: proxy.sleep(30))
    _until(
        lambda: (
            len(client._calls._open) == 1
            and not client._calls._idle.get(
                client._async.directory.peek("info").address  # type: ignore[union-attr]
            )
        ),
        "the call is waiting on its connection",
    )
    client.close()
    thread.join(WAIT)
    (error,) = outcome
    assert type(error) is hubcore.ConnectionLost, error


def test_sync_calls_from_threads_are_recorded_by_the_client_tracer(
    sync_hub: SyncHub, spawn: Spawner
) -> None:
    client, env = sync_hub
    _publisher(spawn, env)
    proxy = client.get_proxy("info", timeout=15)
    tracer = client.tracer = hubcore.Tracer("t", 0)
    thread, _outcome = _in_thread(lambda: proxy.echo(5))
    thread.join(WAIT)
    with pytest.raises(KeyError):
        proxy.fail("k")
    with pytest.raises(hubcore.CallTimeout):
        hubcore.sync.with_timeout(proxy, 0.05).sleep(5)
    records = tracer.drain()
    assert [(r.method, r.outcome) for r in records] == [
        ("echo", "result"),
        ("fail", "error"),
        ("sleep", "timeout"),
    ]
    assert {(r.callee, r.object) for r in records} == {("publisher", "info")}  # its argv[0]
    assert records[0].detail == "5"
    assert len({r.call_id for r in records}) == 3
    client.tracer = None
    proxy.echo(1)
    assert tracer.drain() == []


def test_sync_call_from_the_portal_thread_is_refused_as_documented(sync_hub: SyncHub) -> None:
    """A published method runs in the portal thread: a blocking call from there would stop the
    event loop it needs, so it is refused (docs/sync.md, The portal thread)."""
    client, _env = sync_hub

    class Caller:
        def __init__(self) -> None:
            self.proxy: hubcore.sync.Proxy | None = None

        def add(self, a: int, b: int) -> int:
            return a + b

        def call_self(self) -> str:
            assert self.proxy is not None
            try:
                self.proxy.add(1, 2)
            except RuntimeError as exc:
                return str(exc)
            return "no error"

    caller = Caller()
    client.publish("caller", caller)
    caller.proxy = client.get_proxy("caller", timeout=5)
    assert "cannot be called from the event loop thread" in caller.proxy.call_self()


def test_sync_large_value_crosses_apart_and_is_held_once_by_the_caller(
    sync_hub: SyncHub, spawn: Spawner
) -> None:
    """A 16 MiB value goes as BULK both ways: the caller sends its own bytes object and receives
    the reply straight into the bytes it returns; the publisher holds one copy at a time too."""
    client, env = sync_hub
    spawn.python("-m", "tests.integration.apps.publisher", "large=Large", env=env)
    proxy = client.get_proxy("large", timeout=15)
    size, slack = 16 << 20, 1 << 20  # slack: frames, buffers and bookkeeping besides copies
    payload = bytes(range(256)) * (size // 256)  # the caller's own: not a copy
    proxy.watch_memory()
    tracemalloc.start()
    try:
        for _ in range(3):
            assert proxy.echo(payload) == payload  # the result is freed each time
        _, caller_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    callee_peak = proxy.peak()
    assert caller_peak <= size + slack, f"caller: {caller_peak / size:.2f} copies at once"
    assert callee_peak <= size + slack, f"callee: {callee_peak / size:.2f} copies at once"
