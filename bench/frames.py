"""``python -m bench.frames``: what the protocol layer costs per frame on the call path.

In one process, no sockets: a CALL is encoded, decoded with its fields checked (as the callee
does), its RESULT encoded and decoded (as the caller does), ``-n`` times per run. Prints the
median over ``--runs`` of the CPU time per round trip and per frame. ``--forms`` also times
building one CALL in each form a frame class could take, which is why frames are slots
dataclasses (frozen for the type checker only).

Run from a checkout before typed frames (frames as lists read by position), it times the
same work the way that code did, so a before/after comparison is two checkouts, each running
``python -m bench.frames`` from its own root, in turns. The figures are for comparing runs on
one machine at one moment, not absolute.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import hubcore.protocol as protocol
from bench._options import positive_int

ARGS = ["hello"]  # a small call: the hot path, where per-frame costs show most
KWARGS: dict[str, Any] = {}


def typed_round_trip() -> Callable[[int], Any]:
    """One CALL and its RESULT, each encoded and decoded, with typed frames."""
    from hubcore.protocol import Call, FrameDecoder, Result, encode_frame

    callee, caller = FrameDecoder(), FrameDecoder()

    def run(cid: int) -> Any:
        (call,) = callee.feed(encode_frame(Call(cid, "svc", "echo", list(ARGS), KWARGS)))
        assert type(call) is Call
        (reply,) = caller.feed(encode_frame(Result(call.id, call.args[0])))
        assert type(reply) is Result
        return reply.value

    return run


def list_round_trip() -> Callable[[int], Any]:
    """The same with frames as lists, fields read by position (the code before typed frames)."""
    from hubcore.protocol import FrameDecoder, Kind, encode_frame
    from hubcore.rpc._connection import _malformed_call

    callee, caller = FrameDecoder(), FrameDecoder()

    def run(cid: int) -> Any:
        (call,) = callee.feed(encode_frame([Kind.CALL, cid, "svc", "echo", list(ARGS), KWARGS]))
        assert call[0] == Kind.CALL
        assert not _malformed_call(call)
        _window = call[6] if len(call) > 6 and isinstance(call[6], int) else 0
        (reply,) = caller.feed(encode_frame([Kind.RESULT, call[1], call[4][0]]))
        assert reply[0] == Kind.RESULT
        return reply[2] if len(reply) > 2 else None

    return run


def per_call_us(run: Callable[[int], Any], n: int) -> float:
    """CPU microseconds per call of ``run``, over ``n`` calls.

    CPU time of this process, not wall time: on a shared machine the time spent waiting for a
    core would swamp differences of a tenth of a microsecond.
    """
    started = time.process_time()
    for cid in range(1, n + 1):
        run(cid)
    return (time.process_time() - started) / n * 1e6


# -- the forms a frame class could take (--forms) -------------------------------------------


@dataclass(frozen=True, slots=True)
class _FrozenCall:
    id: int
    target: str
    method: str
    args: list[Any]
    kwargs: dict[str, Any]
    window: int = 0


@dataclass(slots=True)
class _SlotsCall:
    id: int
    target: str
    method: str
    args: list[Any]
    kwargs: dict[str, Any]
    window: int = 0


class _TupleCall(NamedTuple):
    id: int
    target: str
    method: str
    args: list[Any]
    kwargs: dict[str, Any]
    window: int = 0


FORMS: dict[str, Callable[[int], Any]] = {
    "frozen slots dataclass": lambda i: _FrozenCall(i, "svc", "echo", ARGS, KWARGS),
    "slots dataclass": lambda i: _SlotsCall(i, "svc", "echo", ARGS, KWARGS),
    "NamedTuple": lambda i: _TupleCall(i, "svc", "echo", ARGS, KWARGS),
    "list (before)": lambda i: [10, i, "svc", "echo", ARGS, KWARGS],
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.frames", description=__doc__)
    parser.add_argument("-n", type=positive_int, default=100_000, help="round trips per run")
    parser.add_argument("--runs", type=positive_int, default=7, help="runs; the median counts")
    parser.add_argument("--forms", action="store_true", help="also time each frame form")
    options = parser.parse_args(argv)
    typed = hasattr(protocol, "Call")
    run = typed_round_trip() if typed else list_round_trip()
    per_call_us(run, min(options.n, 1000))  # warm-up
    times = [per_call_us(run, options.n) for _ in range(options.runs)]
    median = statistics.median(times)
    print(
        f"frames: {'typed' if typed else 'lists'}  CALL+RESULT encoded and decoded: "
        f"{median:.3f} us per call, {median / 2:.3f} us per frame "
        f"(median of {options.runs} runs of {options.n}; min {min(times):.3f} us per call)"
    )
    if options.forms:
        for name, build in FORMS.items():
            runs = [per_call_us(build, options.n) * 1000 for _ in range(options.runs)]
            print(f"  build one CALL as a {name}: {statistics.median(runs):.0f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
