"""Client side: connect to one system's server, run the three workloads, print one JSON line.

Usage: ``python -m bench.clients SYSTEM SETTINGS_JSON``, with the environment the server's READY
line asked for. The runner starts one such process per system, so every system is measured from
a fresh interpreter and a hung client can be killed without taking the run down.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import asdict, dataclass, field
from multiprocessing.managers import BaseManager
from typing import Any

import anyio

from bench._stats import latency_summary, median
from bench._wire import STREAM_LIMIT, read_frame, write_frame

SMALL = b"twenty-byte-argument"
CONCURRENCY = 64
PAYLOAD_SIZES = {"1 MiB": 1 << 20, "16 MiB": 16 << 20}

AsyncCall = Callable[[Any], Awaitable[Any]]
SyncCall = Callable[[Any], Any]


@dataclass(frozen=True)
class Settings:
    """How many calls each workload makes; ``--quick`` and the full run differ only here."""

    warmup: int
    latency_calls: int
    throughput_calls: int  # per round, spread evenly over the CONCURRENCY workers
    throughput_rounds: int
    payload_repeats: dict[str, int] = field(default_factory=dict)
    client_timeout: float = 120.0  # seconds the runner grants one system's client

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        return cls(**json.loads(text))


QUICK = Settings(500, 5_000, 12_800, 3, {"1 MiB": 20, "16 MiB": 5})
FULL = Settings(2_000, 30_000, 64_000, 5, {"1 MiB": 100, "16 MiB": 30}, client_timeout=600.0)


# --- the systems -------------------------------------------------------------------------------


class RawClient:
    """One connection, calls multiplexed by id, a reader task resolving their futures."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._reader_task = asyncio.get_running_loop().create_task(self._read_replies())

    @classmethod
    async def open(cls, path: str) -> RawClient:
        reader, writer = await asyncio.open_unix_connection(path, limit=STREAM_LIMIT)
        return cls(reader, writer)

    async def call(self, method: str, *args: Any) -> Any:
        if self._reader_task.done():
            raise ConnectionError("raw-asyncio connection lost")
        call_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        write_frame(self._writer, [call_id, method, args])
        await self._writer.drain()
        return await future

    async def _read_replies(self) -> None:
        try:
            while True:
                call_id, error, result = await read_frame(self._reader)
                future = self._pending.pop(call_id)
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(RuntimeError(error))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            for future in self._pending.values():
                future.set_exception(ConnectionError(f"raw-asyncio connection lost: {exc}"))

    async def aclose(self) -> None:
        self._reader_task.cancel()
        self._writer.close()
        await self._writer.wait_closed()


class EchoClientManager(BaseManager):
    """Client half of bench.servers.mp_managers: ``get_echo()`` returns a proxy."""


EchoClientManager.register("get_echo")


def _hubcore_target() -> tuple[str, bytes]:
    with open(os.environ["HUBCORE_TOKEN_FILE"], "rb") as token_file:
        return os.environ["HUBCORE_ADDRESS"], token_file.read()


@asynccontextmanager
async def raw_asyncio() -> AsyncIterator[AsyncCall]:
    client = await RawClient.open(os.environ["BENCH_ADDRESS"])
    try:
        yield lambda x: client.call("echo", x)
    finally:
        await client.aclose()


@asynccontextmanager
async def hubcore_async() -> AsyncIterator[AsyncCall]:
    import hubcore

    address, token = _hubcore_target()
    async with hubcore.connect(address, token=token) as client:
        proxy = await client.get_proxy("echo", timeout=10)
        yield lambda x: proxy.echo(x)


@contextmanager
def mp_managers() -> Iterator[SyncCall]:
    authkey = bytes.fromhex(os.environ["BENCH_AUTHKEY"])
    manager = EchoClientManager(address=os.environ["BENCH_ADDRESS"], authkey=authkey)
    manager.connect()
    # One proxy for every thread: a proxy opens one connection per calling thread by itself.
    proxy = manager.get_echo()  # type: ignore[attr-defined]
    yield lambda x: proxy.echo(x)


@contextmanager
def hubcore_sync() -> Iterator[SyncCall]:
    import hubcore.sync

    address, token = _hubcore_target()
    with hubcore.sync.connect(address, token=token) as client:
        proxy = client.get_proxy("echo", timeout=10)
        yield lambda x: proxy.echo(x)


ASYNC_SYSTEMS: dict[str, Callable[[], AbstractAsyncContextManager[AsyncCall]]] = {
    "raw-asyncio": raw_asyncio,
    "hubcore-async": hubcore_async,
}
SYNC_SYSTEMS: dict[str, Callable[[], AbstractContextManager[SyncCall]]] = {
    "mp-managers": mp_managers,
    "hubcore-sync": hubcore_sync,
}


# --- the workloads -----------------------------------------------------------------------------


def _make_payload(size: int) -> bytes:
    return bytes(range(256)) * (size // 256)


def _check_echo(result: Any, payload: bytes) -> None:
    # bytes must come back as bytes: a str or list would mean the system re-encoded them
    if result != payload:
        raise AssertionError(f"echo returned a {type(result).__name__}, not the payload")


def _payload_summary(size: int, seconds: list[float]) -> dict[str, float]:
    mid = median(seconds)
    return {"ms": mid * 1000, "mb_per_s": 2 * size / mid / 1e6, "n": len(seconds)}


def _result(latency_ns: list[int], rates: list[float], payloads: dict[str, Any]) -> dict[str, Any]:
    return {
        **latency_summary(latency_ns),
        "calls_per_s": median(rates),
        "throughput_rounds": rates,
        "payloads": payloads,
    }


async def _async_rate(call: AsyncCall, per_task: int) -> float:
    async def worker() -> None:
        for _ in range(per_task):
            await call(SMALL)

    start = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for _ in range(CONCURRENCY):
            tasks.start_soon(worker)
    return CONCURRENCY * per_task / (time.perf_counter() - start)


async def measure_async(call: AsyncCall, settings: Settings) -> dict[str, Any]:
    """Run the three workloads against an awaitable ``call``."""
    _check_echo(await call(SMALL), SMALL)
    for _ in range(settings.warmup):
        await call(SMALL)
    latency = []
    for _ in range(settings.latency_calls):
        start = time.perf_counter_ns()
        await call(SMALL)
        latency.append(time.perf_counter_ns() - start)
    per_task = settings.throughput_calls // CONCURRENCY
    rates = [await _async_rate(call, per_task) for _ in range(settings.throughput_rounds)]
    return _result(latency, rates, await _async_payloads(call, settings))


async def _async_payloads(call: AsyncCall, settings: Settings) -> dict[str, Any]:
    payloads = {}
    for label, size in PAYLOAD_SIZES.items():
        payload = _make_payload(size)
        _check_echo(await call(payload), payload)  # also the warm-up for this size
        seconds = []
        for _ in range(settings.payload_repeats[label]):
            start = time.perf_counter()
            await call(payload)
            seconds.append(time.perf_counter() - start)
        payloads[label] = _payload_summary(size, seconds)
    return payloads


def _thread_rates(call: SyncCall, per_thread: int, rounds: int) -> list[float]:
    """Each round, CONCURRENCY threads make ``per_thread`` calls; the barriers time the round.

    A barrier's action runs once, when the last party arrives, so the clock starts when every
    thread is released and stops when the last one finishes, whoever the OS schedules first.
    """
    marks: list[float] = []
    start = threading.Barrier(CONCURRENCY, action=lambda: marks.append(time.perf_counter()))
    done = threading.Barrier(CONCURRENCY, action=lambda: marks.append(time.perf_counter()))
    errors: list[Exception] = []

    def worker() -> None:
        try:
            call(SMALL)  # opens this thread's connection, where the system keeps one per thread
            for _ in range(rounds):
                start.wait()
                for _ in range(per_thread):
                    call(SMALL)
                done.wait()
        except threading.BrokenBarrierError:
            pass
        except Exception as exc:
            errors.append(exc)
            start.abort()
            done.abort()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} worker thread(s) failed") from errors[0]
    rounds_timed = zip(marks[::2], marks[1::2], strict=True)
    return [CONCURRENCY * per_thread / (end - begin) for begin, end in rounds_timed]


def measure_sync(call: SyncCall, settings: Settings) -> dict[str, Any]:
    """Run the three workloads against a blocking ``call``."""
    _check_echo(call(SMALL), SMALL)
    for _ in range(settings.warmup):
        call(SMALL)
    latency = []
    for _ in range(settings.latency_calls):
        start = time.perf_counter_ns()
        call(SMALL)
        latency.append(time.perf_counter_ns() - start)
    per_thread = settings.throughput_calls // CONCURRENCY
    rates = _thread_rates(call, per_thread, settings.throughput_rounds)
    return _result(latency, rates, _sync_payloads(call, settings))


def _sync_payloads(call: SyncCall, settings: Settings) -> dict[str, Any]:
    payloads = {}
    for label, size in PAYLOAD_SIZES.items():
        payload = _make_payload(size)
        _check_echo(call(payload), payload)  # also the warm-up for this size
        seconds = []
        for _ in range(settings.payload_repeats[label]):
            start = time.perf_counter()
            call(payload)
            seconds.append(time.perf_counter() - start)
        payloads[label] = _payload_summary(size, seconds)
    return payloads


async def _run_async(system: str, settings: Settings) -> dict[str, Any]:
    async with ASYNC_SYSTEMS[system]() as call:
        return await measure_async(call, settings)


def main(argv: list[str]) -> None:
    system, settings = argv[0], Settings.from_json(argv[1])
    if system in ASYNC_SYSTEMS:
        result = anyio.run(_run_async, system, settings)
    else:
        with SYNC_SYSTEMS[system]() as call:
            result = measure_sync(call, settings)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
