"""``python -m bench.inproc``: the CPU cost of one call through both ends of a connection.

In one process, no socket: two :class:`~hubcore.rpc.Connection` objects back to back over the
in-memory transport (``hubcore.transport.memory``), the callee publishing ``echo``. A loop of
``--calls`` sequential calls (``Calls.call``, what a proxy's call does once it has its
connection), ``--rounds`` times, with a timeout (the CALL carries its deadline, the callee
serves it as a chain's call) and without; prints the best round of each, in microseconds per
call. Run from two checkouts in turns, it compares their per-call work without the noise of
sockets and scheduling (docs/benchmarks.md, "The cost of call chains").

The in-memory transport takes no write from another thread, so those calls arm no watchdog
guard (``hubcore.rpc._watchdog``), which a socket's calls with a timeout do around each plain
method: the last line times the guard's arm and disarm alone, per call, less an empty call.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import cast

import anyio

from bench._options import positive_int
from hubcore.protocol import Call
from hubcore.rpc import Connection, Dispatcher
from hubcore.rpc._watchdog import Guard
from hubcore.transport.memory import memory_stream_pair

SMALL = b"twenty-byte-argument"
TIMEOUT = 10.0


class Echo:
    def echo(self, value: bytes) -> bytes:
        return value


async def measure(calls: int, rounds: int) -> dict[str, float]:
    """The best round's microseconds per call, with a timeout and without."""
    caller_end, callee_end = memory_stream_pair(write_nowait=True)
    dispatcher = Dispatcher()
    dispatcher.add("echo", Echo())
    caller = Connection(caller_end, label="callee")
    callee = Connection(callee_end, handler=dispatcher, label="caller")
    best = {"with a timeout": float("inf"), "without": float("inf")}
    async with anyio.create_task_group() as tg:
        await tg.start(caller.run)
        await tg.start(callee.run)
        for _ in range(rounds):
            for label, timeout in (("without", None), ("with a timeout", TIMEOUT)):
                started = time.perf_counter()
                for _ in range(calls):
                    await caller.calls.call("echo", "echo", (SMALL,), {}, timeout)
                per_call = (time.perf_counter() - started) / calls * 1e6
                best[label] = min(best[label], per_call)
        tg.cancel_scope.cancel()
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inproc", description=__doc__)
    parser.add_argument("--calls", type=positive_int, default=10_000, help="calls per round")
    parser.add_argument("--rounds", type=positive_int, default=7, help="rounds; the best counts")
    args = parser.parse_args(argv)
    best = anyio.run(measure, args.calls, args.rounds)
    for label, us in best.items():
        print(f"{label:<15} {us:6.2f} us a call (best of {args.rounds} x {args.calls:,})")
    guard = guard_cost(args.calls * 10, args.rounds)
    print(f"{'guard':<15} {guard:6.2f} us a call (best of {args.rounds} x {args.calls * 10:,})")
    return 0


class _Idle:
    """A stream another thread may write to: the guard never fires here."""

    def write_aside(self, data: bytes) -> bytes | None:
        return b""

    def write_nowait(self, data: bytes | memoryview) -> None:
        pass


def guard_cost(calls: int, rounds: int) -> float:
    """The best round's microseconds of a guard's arm and disarm, as a connection does them
    around one plain method whose CALL carries a deadline (less the loop's own cost)."""
    conn = SimpleNamespace(identity=("bench", 0), max_frame=1 << 20)  # what firing would read
    guard = Guard(cast(Connection, conn), _Idle())
    frame = Call(1, "echo", "echo", [SMALL], {}, 0, TIMEOUT)
    arrived = time.monotonic() + 1e6  # far from its deadline: the watchdog leaves it alone
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            guard.arm(frame, arrived, True)
            guard.disarm()
        armed = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(calls):
            pass
        best = min(best, (armed - (time.perf_counter() - started)) / calls * 1e6)
    return best


if __name__ == "__main__":
    sys.exit(main())
