"""Client side: connect to one system's server, run the three workloads, print one JSON line.

Usage: ``python -m bench.clients SYSTEM SETTINGS_JSON``, with the environment the server's READY
line asked for. The runner starts one such process per system, so every system is measured from
a fresh interpreter and a hung client can be killed without taking the run down.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

from bench import _loops
from bench._connect import ASYNC_SYSTEMS, SYNC_SYSTEMS, AsyncCall, SyncCall
from bench._rss import PeakWindow
from bench._stats import latency_summary, median

SMALL = b"twenty-byte-argument"
CONCURRENCY = 64
PAYLOAD_SIZES = {"1 MiB": 1 << 20, "16 MiB": 16 << 20}
RSS_PAYLOAD = "16 MiB"  # the payload whose workload is watched for peak RSS, on both sides


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


# --- the workloads -----------------------------------------------------------------------------


def _make_payload(size: int) -> bytes:
    return bytes(range(256)) * (size // 256)


def _check_echo(result: Any, payload: bytes) -> None:
    # bytes must come back as bytes: a str or list would mean the system re-encoded them
    if result != payload:
        raise AssertionError(f"echo returned a {type(result).__name__}, not the payload")


def _payload_summary(size: int, seconds: list[float]) -> dict[str, Any]:
    mid = median(seconds)
    return {"ms": mid * 1000, "mb_per_s": 2 * size / mid / 1e6, "n": len(seconds)}


@contextmanager
def _memory_watch(label: str, size: int) -> Iterator[dict[str, Any]]:
    """Around the RSS_PAYLOAD workload, fill the yielded dict with both sides' peak RSS growth.

    The window opens before the first call of that size, so buffers a system keeps for reuse
    count as copies too.
    """
    memory: dict[str, Any] = {}
    if label != RSS_PAYLOAD:
        yield memory
        return
    window = PeakWindow({"client": os.getpid(), "server": int(os.environ["BENCH_SERVER_PID"])})
    window.open()
    yield memory
    memory["peak_rss"] = window.close(size)


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
    payloads = await _async_payloads(call, settings)
    return {**_result(latency, rates, payloads), "event_loop": _loops.loop_name()}


async def _async_payloads(call: AsyncCall, settings: Settings) -> dict[str, Any]:
    payloads = {}
    for label, size in PAYLOAD_SIZES.items():
        payload = _make_payload(size)
        with _memory_watch(label, size) as memory:
            _check_echo(await call(payload), payload)  # also the warm-up for this size
            seconds = []
            for _ in range(settings.payload_repeats[label]):
                start = time.perf_counter()
                await call(payload)
                seconds.append(time.perf_counter() - start)
        payloads[label] = {**_payload_summary(size, seconds), **memory}
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
        with _memory_watch(label, size) as memory:
            _check_echo(call(payload), payload)  # also the warm-up for this size
            seconds = []
            for _ in range(settings.payload_repeats[label]):
                start = time.perf_counter()
                call(payload)
                seconds.append(time.perf_counter() - start)
        payloads[label] = {**_payload_summary(size, seconds), **memory}
    return payloads


async def _run_async(open_system: Callable[[], Any], settings: Settings) -> dict[str, Any]:
    async with open_system() as call:
        result: dict[str, Any] = await measure_async(call, settings)
        return result


def main(argv: list[str]) -> None:
    system, settings = argv[0], Settings.from_json(argv[1])
    if system in ASYNC_SYSTEMS:
        open_system, loop = ASYNC_SYSTEMS[system]
        result = _loops.run(_run_async, open_system, settings, loop=loop)
    else:
        with SYNC_SYSTEMS[system]() as call:
            result = measure_sync(call, settings)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
