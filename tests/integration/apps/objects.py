"""Objects that test processes publish."""

from __future__ import annotations

import datetime as dt
import os
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import anyio

import hubcore
import hubcore.sync


@dataclass(frozen=True)
class Point:
    x: int
    y: int


hubcore.register_codec(Point, lambda p: [p.x, p.y], lambda v: Point(*v), name="tests.Point")


class Info:
    """A bit of everything a test wants to call."""

    label = "info-object"

    def __init__(self) -> None:
        self.calls = 0
        self.cancelled = 0
        self.produced = 0
        self.sleeping = 0

    def get_pid(self) -> int:
        self.calls += 1
        return os.getpid()

    def echo(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return [list(args), kwargs] if kwargs else (args[0] if len(args) == 1 else list(args))

    def types(self) -> dict[str, Any]:
        return {
            "tuple": (1, "a", (2, 3)),
            "set": {1, 2},
            "frozen": frozenset({"x"}),
            "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "day": dt.date(2026, 1, 2),
            "span": dt.timedelta(seconds=90),
            "raw": b"\x00\xff",
            "point": Point(1, 2),
        }

    def move(self, point: Point, dx: int) -> Point:
        return Point(point.x + dx, point.y)

    def fail(self, key: str) -> None:
        raise KeyError(key)

    def counts(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "cancelled": self.cancelled,
            "produced": self.produced,
            "sleeping": self.sleeping,
        }

    async def sleep(self, seconds: float) -> str:
        self.sleeping += 1
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.sleeping -= 1
        return "slept"

    async def numbers(self, n: int) -> Any:
        for i in range(n):
            self.produced += 1
            yield i


class Slow:
    """A coroutine method slower than a caller can send calls: for floods."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0  # the most calls running at once
        self.done = 0
        self._base = 0
        self._crowd = anyio.Event()

    async def take(self, payload: bytes, seconds: float, crowd: int = 0) -> int:
        """Take ``seconds``; the first calls wait (10 s at most) until ``crowd`` run at once."""
        self.running += 1
        self.most = max(self.most, self.running)
        if self.running >= crowd:
            self._crowd.set()
        try:
            with anyio.move_on_after(10):
                await self._crowd.wait()
            await anyio.sleep(seconds)
        finally:
            self.running -= 1
        self.done += 1
        return len(payload)

    def watch_memory(self) -> None:
        """Measure the peak of Python's allocations from now on (``stats``)."""
        tracemalloc.start()
        self._base = tracemalloc.get_traced_memory()[0]

    def stats(self) -> dict[str, int]:
        """Calls at most at once, calls done, and the peak of allocations since
        ``watch_memory`` above what was allocated then, in bytes."""
        peak = tracemalloc.get_traced_memory()[1] - self._base if tracemalloc.is_tracing() else 0
        return {"most": self.most, "done": self.done, "peak": peak}


class Large:
    """Echoes large values, and says how much memory that took at most."""

    def __init__(self) -> None:
        self._base = 0

    def echo(self, value: Any) -> Any:
        return value

    def watch_memory(self) -> None:
        """Measure the peak of Python's allocations from now on (``peak``)."""
        tracemalloc.start()
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]

    def peak(self) -> int:
        """The most bytes allocated at once since ``watch_memory``, above what was then."""
        return tracemalloc.get_traced_memory()[1] - self._base


#: The attributes a proxy had before its operations became functions.
OPERATION_NAMES = (
    "call",
    "stream",
    "name",
    "events",
    "subscribe",
    "broadcast",
    "with_timeout",
    "get_property",
)


class Clash:
    """Methods named like the proxy's former operations: each must be a plain remote method."""

    def call(self, x: Any) -> list[Any]:
        return ["call", x]

    async def stream(self, n: int) -> Any:
        for i in range(n):
            yield i

    def name(self) -> str:
        return "clash"

    def events(self) -> list[str]:
        return ["events"]

    async def subscribe(self, topic: str) -> list[str]:
        return ["subscribe", topic]

    def broadcast(self, *args: Any) -> list[Any]:
        return ["broadcast", *args]

    def with_timeout(self, seconds: float) -> list[Any]:
        return ["with_timeout", seconds]

    def get_property(self, key: str = "k") -> list[str]:
        return ["get_property", key]


class Sequence:
    """Writes down the order in which its methods run."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def record(self, n: int) -> int:
        self.seen.append(n)
        return n

    async def record_later(self, n: int) -> int:
        self.seen.append(n)
        await anyio.sleep(0.001)
        return n

    def block(self, n: int, seconds: float) -> int:
        """A plain method that holds its process's event loop for ``seconds``."""
        time.sleep(seconds)
        self.seen.append(n)
        return n

    def order(self) -> list[int]:
        return self.seen


class Relay:
    """Calls another published name while it serves a call: the middle of a chain of calls."""

    async def relay(self, name: str, method: str, *args: Any) -> Any:
        """``name.method(*args)`` through this process's proxy (its default timeout, 10 s)."""
        proxy = await hubcore.get_proxy(name)
        return await hubcore.call(proxy, method, args)

    def relay_plain(self, name: str, method: str, *args: Any) -> Any:
        """The same from a plain method: it returns the call's coroutine, awaited in the task
        the dispatcher starts for an awaitable result."""
        return self.relay(name, method, *args)

    async def relay_blocking(self, name: str, method: str, *args: Any) -> Any:
        """The same through ``hubcore.sync``'s blocking client, from a worker thread."""

        def call() -> Any:
            return hubcore.sync.call(hubcore.sync.get_proxy(name), method, args)

        return await anyio.to_thread.run_sync(call)

    def left(self) -> float | None:
        """What is left of the deadline of the call being served (None: it has none)."""
        from hubcore.rpc._chain import SERVING, deadline  # a test's peek: not public names

        served = SERVING.get()
        ends = None if served is None else deadline(served)
        return None if ends is None else ends - time.monotonic()
