"""``python -m bench.inproc``: the CPU cost of one call through both ends of a connection.

In one process, no socket: two :class:`~hubcore.rpc.Connection` objects back to back over the
in-memory transport (``hubcore.transport.memory``), the callee publishing ``echo``. A loop of
``--calls`` sequential calls (``Calls.call``, what a proxy's call does once it has its
connection), ``--rounds`` times, with a timeout (the CALL carries its deadline, the callee
serves it as a chain's call) and without; prints the best round of each, in microseconds per
call. Run from two checkouts in turns, it compares their per-call work without the noise of
sockets and scheduling (docs/benchmarks.md, "The cost of call chains").
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import anyio

from bench._options import positive_int
from hubcore.rpc import Connection, Dispatcher
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
