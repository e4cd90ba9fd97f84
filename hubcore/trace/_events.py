"""Call records -> Chrome trace-event JSON (the format Perfetto and chrome://tracing open).

How it maps: every process label (``web.0``, ``background.0``, ``pytest.0``) is a trace
"process" (a lane), and each of its rows is a trace "thread". A call is two complete (``X``)
slices over the same time, as its caller timed it: ``-> page_snapshot.take`` in the caller's
lane and ``page_snapshot.take`` in the callee's, joined by a flow arrow (``s`` at the caller's
slice, ``f`` bound to the callee's enclosing slice). A call made while serving another (its
record's ``parent``) is drawn inside the parent's slice in that lane, on the same row when
it fits; two calls that merely overlap are never drawn one inside the other. Tests are a
lane of their own (``tests``), failed ones coloured, and each call slice names, in its args,
the test it was made during.

Invariant: the slices of one row nest or follow each other, never overlap partly (what the
format requires of a thread); rows are added to a lane until every slice fits. Times are
integer microseconds from the earliest call or test.

Several sources (the xdist workers of a session) each keep their own lanes, named with a
prefix (``gw0 background.0``): add each one's :meth:`Trace.part` with ``group=``.
"""

from __future__ import annotations

import bisect
import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from hubcore.rpc._tracing import CallRecord

__all__ = ("DEFAULT_LIMIT", "Trace")

#: Calls a trace keeps (the newest): a long ``hubcore dev --trace`` run stays bounded. A call
#: takes about 1 KB of JSON (two slices, their details, an arrow): some 50 MB at the limit.
DEFAULT_LIMIT = 50_000
CALL_WIDTH = 160  # characters of ``object.method(args)`` kept per call
DETAIL_WIDTH = 200
TESTS = "tests"
ROW_STRIDE = 10_000  # tid = pid * ROW_STRIDE + row: thread ids unique across lanes
_COLOURS = {"error": "bad", "timeout": "yellow", "crash": "terrible"}
_TEST_COLOURS = {"passed": "good", "failed": "terrible", "error": "terrible", "skipped": "grey"}


@dataclass(frozen=True)
class _Call:
    """One call in plain values (JSON-safe): what a trace draws of a record."""

    caller: str
    callee: str  # "" when the call never reached an instance
    target: str
    text: str
    outcome: str
    detail: str
    started: float
    duration: float
    call_id: str = ""
    parent: str = ""
    group: str = ""

    @classmethod
    def of(cls, record: CallRecord, group: str) -> _Call:
        callee = f"{record.callee}.{record.callee_instance}" if record.callee else ""
        return cls(
            f"{record.caller}.{record.caller_instance}",
            callee,
            f"{record.object}.{record.method}",
            record.call_text(CALL_WIDTH),
            record.outcome,
            record.detail[:DETAIL_WIDTH],
            float(record.started),
            float(record.duration),
            record.call_id,
            record.parent,
            group,
        )


@dataclass(frozen=True)
class _Test:
    nodeid: str
    start: float
    stop: float
    outcome: str
    group: str = ""


class Trace:
    """The calls (and tests) of a session or a run, to be written as a Chrome trace.

    :param limit: calls kept; past it, the oldest are dropped (and counted).
    """

    def __init__(self, *, limit: int = DEFAULT_LIMIT) -> None:
        self._calls: deque[_Call] = deque(maxlen=limit)
        self._tests: list[_Test] = []
        self.dropped = 0  #: calls dropped for the limit

    def __len__(self) -> int:
        """How many calls the trace holds."""
        return len(self._calls)

    @property
    def tests(self) -> int:
        """How many tests the trace holds."""
        return len(self._tests)

    def add_calls(self, records: Iterable[CallRecord], *, group: str = "") -> None:
        """Add finished calls (:class:`hubcore.CallRecord`, as drained from a tracer)."""
        self._extend(_Call.of(r, group) for r in records)

    def add_test(
        self, nodeid: str, start: float, stop: float, outcome: str, *, group: str = ""
    ) -> None:
        """Add a test that ran from ``start`` to ``stop`` (``time.time()``); ``outcome`` is
        ``"passed"``, ``"failed"``, ``"error"`` (setup or teardown failed) or ``"skipped"``."""
        self._tests.append(_Test(nodeid, float(start), float(stop), outcome, group))

    def part(self) -> dict[str, Any]:
        """Everything added so far, in plain values (JSON, or an xdist worker's output)."""
        return {
            "calls": [asdict(c) for c in self._calls],
            "tests": [asdict(t) for t in self._tests],
            "dropped": self.dropped,
        }

    def add_part(self, part: dict[str, Any], *, group: str = "") -> None:
        """Add another trace's :meth:`part`, its lanes named with ``group`` (``"gw0"``).

        :raises ValueError: ``part`` is not what :meth:`part` returns.
        """
        try:
            calls = [_Call(**{**c, "group": group}) for c in part["calls"]]
            tests = [_Test(**{**t, "group": group}) for t in part["tests"]]
            dropped = int(part.get("dropped", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a part of a hubcore trace: {exc!r}") from None
        self._extend(calls)
        self._tests += tests
        self.dropped += dropped

    def _extend(self, calls: Iterable[_Call]) -> None:
        for call in calls:
            if len(self._calls) == self._calls.maxlen:
                self.dropped += 1
            self._calls.append(call)

    def to_json(self) -> dict[str, Any]:
        """The trace as a Chrome trace-event JSON object (``traceEvents`` and metadata)."""
        return _Builder(list(self._calls), self._tests).build(self.dropped)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path`` (replaced as a whole)."""
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump(self.to_json(), file, separators=(",", ":"))
        os.replace(tmp, path)


@dataclass(eq=False)
class _Slice:
    lane: str
    start: int  # microseconds from the trace's start
    end: int
    order: int  # ties: the order the slices were made
    container: _Slice | None = None  # the slice this one must be drawn inside
    row: int = -1


@dataclass
class _Lane:
    label: str
    pid: int
    slices: list[_Slice] = field(default_factory=list)
    rows: int = 0


class _Builder:
    """Lays out one trace: lanes, rows, slices, flows."""

    def __init__(self, calls: list[_Call], tests: list[_Test]) -> None:
        self.calls = sorted(calls, key=lambda c: c.started)
        self.tests = sorted(tests, key=lambda t: t.start)
        starts = [c.started for c in self.calls] + [t.start for t in self.tests]
        self.t0 = min(starts, default=0.0)
        self.lanes: dict[str, _Lane] = {}
        self._order = 0

    def us(self, t: float) -> int:
        return round((t - self.t0) * 1e6)

    def build(self, dropped: int) -> dict[str, Any]:
        tests = [(t, self._slice(_lane(t.group, TESTS), t.start, t.stop)) for t in self.tests]
        outs, ins = self._call_slices()
        for lane in self.lanes.values():
            _pack(lane)
        events = self._metadata()
        events += [_test_event(t, s, self._tid(s)) for t, s in tests]
        by_test = _TestFinder(self.tests)
        for call, out, in_ in zip(self.calls, outs, ins, strict=True):
            test = by_test.at(call.group, call.started)
            events.append(self._call_event(call, out, "caller", test))
            if in_ is not None:
                events.append(self._call_event(call, in_, "callee", test))
        events += self._flows(outs, ins)
        other = {"generator": "hubcore", "t0": self.t0, "calls": len(self.calls)}
        other |= {"tests": len(self.tests), "dropped": dropped}
        return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": other}

    def _slice(self, lane: str, start: float, stop: float) -> _Slice:
        if lane not in self.lanes:
            self.lanes[lane] = _Lane(lane, len(self.lanes) + 1)
        self._order += 1
        made = _Slice(lane, self.us(start), max(self.us(stop), self.us(start)), self._order)
        self.lanes[lane].slices.append(made)
        return made

    def _call_slices(self) -> tuple[list[_Slice], list[_Slice | None]]:
        """Each call's slice in its caller's lane and (if it reached one) its callee's; a
        nested call's caller slice lies inside its parent's callee slice."""
        outs: list[_Slice] = []
        ins: list[_Slice | None] = []
        served: dict[str, _Slice] = {}  # call_id -> its callee slice
        for call in self.calls:
            end = call.started + call.duration
            out = self._slice(_lane(call.group, call.caller), call.started, end)
            parent = served.get(call.parent) if call.parent else None
            if parent is not None and parent.lane == out.lane:
                out.container = parent
                out.start = min(max(out.start, parent.start), parent.end)
                out.end = max(min(out.end, parent.end), out.start)
            callee = None
            if call.callee:
                callee = self._slice(_lane(call.group, call.callee), call.started, end)
                if call.call_id:
                    served[call.call_id] = callee
            outs.append(out)
            ins.append(callee)
        return outs, ins

    def _tid(self, s: _Slice) -> int:
        return self.lanes[s.lane].pid * ROW_STRIDE + s.row

    def _metadata(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for index, lane in enumerate(sorted(self.lanes.values(), key=_lane_order)):
            lane.pid = index + 1
            pid = lane.pid
            events.append(_meta("process_name", pid, 0, name=lane.label))
            events.append(_meta("process_sort_index", pid, 0, sort_index=index))
            for row in range(lane.rows):
                name = _row_name(lane.label, row)
                events.append(_meta("thread_name", pid, pid * ROW_STRIDE + row, name=name))
                sort = _meta("thread_sort_index", pid, pid * ROW_STRIDE + row, sort_index=row)
                events.append(sort)
        return events

    def _call_event(self, call: _Call, s: _Slice, side: str, test: _Test | None) -> dict[str, Any]:
        args: dict[str, Any] = {
            "call": call.text,
            "caller": call.caller,
            "callee": call.callee or "(none reached)",
            "outcome": call.outcome,
            "detail": call.detail,
            "ms": round(call.duration * 1000, 3),
        }
        if call.call_id:
            args["call_id"] = call.call_id
        if call.parent:
            args["parent"] = call.parent
        if test is not None:
            args["test"] = test.nodeid
            args["test_outcome"] = test.outcome
        name = call.target if side == "callee" else f"\u2192 {call.target}"
        event = {"name": name, "cat": "call", "ph": "X", "ts": s.start, "dur": s.end - s.start}
        event |= {"pid": self.lanes[s.lane].pid, "tid": self._tid(s), "args": args}
        if call.outcome in _COLOURS:
            event["cname"] = _COLOURS[call.outcome]
        return event

    def _flows(self, outs: list[_Slice], ins: list[_Slice | None]) -> list[dict[str, Any]]:
        """An arrow from each call's caller slice to its callee slice: ``s`` and ``f`` (bound
        to the enclosing slice) a moment after each slice's start, strictly inside it."""
        events = []
        for flow_id, (out, in_) in enumerate(zip(outs, ins, strict=True), start=1):
            if in_ is None:
                continue
            for ph, s in (("s", out), ("f", in_)):
                ts = s.start + min(1, (s.end - s.start) // 2)
                event = {"name": "call", "cat": "call", "ph": ph, "id": flow_id, "ts": ts}
                event |= {"pid": self.lanes[s.lane].pid, "tid": self._tid(s)}
                if ph == "f":
                    event["bp"] = "e"
                events.append(event)
        return events


def _lane(group: str, label: str) -> str:
    return f"{group} {label}" if group else label


def _lane_order(lane: _Lane) -> tuple[str, int, str]:
    """Each group together; in it the tests first, then the test's own process, then the
    rest by name."""
    group, _, label = lane.label.rpartition(" ")
    rank = 0 if label == TESTS else 1 if label.startswith("pytest.") else 2
    return group, rank, label


def _row_name(label: str, row: int) -> str:
    kind = TESTS if label.rpartition(" ")[2] == TESTS else "calls"
    return kind if row == 0 else f"{kind} {row + 1}"


def _meta(kind: str, pid: int, tid: int, **args: Any) -> dict[str, Any]:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid, "args": args}


def _pack(lane: _Lane) -> None:
    """Give each slice of ``lane`` a row where nothing else is open at its start, or where
    the slice it must be drawn inside is the innermost one open (its parent's call): a slice
    drawn inside another always means a call made for it, never two calls that overlapped."""
    rows: list[list[_Slice]] = []  # per row: the slices open at the current start, nested
    for s in sorted(lane.slices, key=lambda s: (s.start, -s.end, s.order)):
        first = [s.container.row] if s.container is not None and s.container.row >= 0 else []
        for row in _candidates(first, len(rows)):
            open_ = rows[row]
            while open_ and open_[-1].end <= s.start:
                open_.pop()
            if not open_ or (open_[-1] is s.container and s.end <= open_[-1].end):
                open_.append(s)
                s.row = row
                break
        else:
            rows.append([s])
            s.row = len(rows) - 1
    lane.rows = len(rows)


def _candidates(first: list[int], count: int) -> Iterator[int]:
    yield from first
    yield from (row for row in range(count) if row not in first)


def _test_event(test: _Test, s: _Slice, tid: int) -> dict[str, Any]:
    name = test.nodeid.rpartition("::")[2] or test.nodeid
    args = {"nodeid": test.nodeid, "outcome": test.outcome}
    event = {"name": name, "cat": "test", "ph": "X", "ts": s.start, "dur": s.end - s.start}
    event |= {"pid": tid // ROW_STRIDE, "tid": tid, "args": args}
    if test.outcome in _TEST_COLOURS:
        event["cname"] = _TEST_COLOURS[test.outcome]
    return event


class _TestFinder:
    """Which test ran at a moment, per group (tests of one group never overlap)."""

    def __init__(self, tests: list[_Test]) -> None:
        self._by_group: dict[str, list[_Test]] = {}
        for test in tests:
            self._by_group.setdefault(test.group, []).append(test)
        self._starts = {g: [t.start for t in ts] for g, ts in self._by_group.items()}

    def at(self, group: str, moment: float) -> _Test | None:
        tests = self._by_group.get(group)
        if not tests:
            return None
        i = bisect.bisect_right(self._starts[group], moment) - 1
        return tests[i] if i >= 0 and moment <= tests[i].stop else None
