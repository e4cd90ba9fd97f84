"""``hubcore.trace``: call records -> Chrome trace-event JSON, and the page that draws it.

The events are checked as the format defines them: complete (``X``) slices that nest on each
thread (a property checked over generated calls), flow ``s``/``f`` pairs bound to the slices of
a call, process and thread names. The page is checked as text here; tests/plugin draws a real
trace in Chromium.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hubcore
import hubcore.trace
from hubcore.trace import Trace

pytestmark = pytest.mark.timeout(60)

T0 = 1_700_000_000.0


def rec(
    target: str,
    caller: str = "pytest.0",
    callee: str = "background.0",
    *,
    at: float = 0.0,
    dur: float = 0.01,
    outcome: str = "result",
    call_id: str = "",
    parent: str = "",
    args: tuple[Any, ...] = (),
) -> hubcore.CallRecord:
    """A call of ``"object.method"`` between two labels, ``at`` seconds after T0."""
    obj, _, method = target.partition(".")
    (cp, ci), (ep, ei) = (_split(caller), _split(callee) if callee else ("", 0))
    return hubcore.CallRecord(
        cp, ci, ep, ei, obj, method, args, {}, outcome, "None", T0 + at, dur, call_id, parent
    )


def _split(label: str) -> tuple[str, int]:
    name, _, instance = label.rpartition(".")
    return name, int(instance)


def events_of(trace: Trace) -> list[dict[str, Any]]:
    data = json.loads(json.dumps(trace.to_json()))  # what a file holds
    events: list[dict[str, Any]] = data["traceEvents"]
    return events


def lanes(events: list[dict[str, Any]]) -> dict[int, str]:
    return {e["pid"]: e["args"]["name"] for e in events if e.get("name") == "process_name"}


def slices(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["ph"] == "X"]


def lane_of(events: list[dict[str, Any]], event: dict[str, Any]) -> str:
    return lanes(events)[event["pid"]]


def test_a_call_is_a_slice_in_each_lane_joined_by_a_flow() -> None:
    trace = Trace()
    trace.add_calls([rec("counter.increment", at=0.5, dur=0.25, call_id="p:1", args=(2,))])
    events = events_of(trace)
    assert sorted(lanes(events).values()) == ["background.0", "pytest.0"]
    out, in_ = slices(events)
    assert (lane_of(events, out), out["name"]) == ("pytest.0", "\u2192 counter.increment")
    assert (lane_of(events, in_), in_["name"]) == ("background.0", "counter.increment")
    assert (out["ts"], out["dur"]) == (in_["ts"], in_["dur"]) == (0, 250_000)
    assert out["args"]["call"] == "counter.increment(2)"
    assert out["args"]["caller"] == "pytest.0"
    assert out["args"]["callee"] == "background.0"
    assert out["args"]["call_id"] == "p:1"
    start, end = (e for e in events if e["ph"] in "sf")
    assert (start["ph"], end["ph"], start["id"]) == ("s", "f", end["id"])
    assert end["bp"] == "e"  # bound to the slice that encloses it
    assert (start["pid"], start["tid"]) == (out["pid"], out["tid"])
    assert (end["pid"], end["tid"]) == (in_["pid"], in_["tid"])
    assert out["ts"] < start["ts"] < out["ts"] + out["dur"]
    assert in_["ts"] < end["ts"] < in_["ts"] + in_["dur"]
    assert (start["cat"], start["name"]) == (end["cat"], end["name"])


def test_outcomes_are_coloured_and_a_call_that_reached_no_callee_has_one_slice() -> None:
    trace = Trace()
    trace.add_calls(
        [
            rec("a.f", outcome="error", at=0),
            rec("a.g", outcome="timeout", at=1),
            rec("a.h", outcome="crash", at=2),
            rec("nowhere.f", callee="", outcome="error", at=3),
        ]
    )
    events = events_of(trace)
    colours = {e["name"]: e.get("cname") for e in slices(events)}
    assert colours["a.f"] == "bad"
    assert colours["a.g"] == "yellow"
    assert colours["a.h"] == "terrible"
    [lost] = [e for e in slices(events) if "nowhere" in e["name"]]
    assert lost["args"]["callee"] == "(none reached)"
    assert len([e for e in events if e["ph"] == "s"]) == 3


def test_a_nested_call_is_drawn_inside_its_parent_on_the_same_row() -> None:
    """web.snapshot is served by worker.0, which calls page_snapshot.take while serving it:
    that call's slice in worker.0 lies in web.snapshot's slice there, on the same thread,
    even when the clocks put it a little outside."""
    trace = Trace()
    trace.add_calls(
        [
            rec("web.snapshot", "pytest.0", "worker.0", at=0, dur=0.5, call_id="p:1"),
            rec("other.call", "worker.0", "background.0", at=0.05, dur=0.1, call_id="w:0"),
            rec(
                "page_snapshot.take",
                "worker.0",
                "background.0",
                at=0.2,
                dur=0.31,  # ends after the parent, as skewed clocks may say
                call_id="w:1",
                parent="p:1",
            ),
        ]
    )
    events = events_of(trace)
    worker = [e for e in slices(events) if lane_of(events, e) == "worker.0"]
    served = next(e for e in worker if e["name"] == "web.snapshot")
    nested = next(e for e in worker if e["name"] == "\u2192 page_snapshot.take")
    assert nested["tid"] == served["tid"]
    assert served["ts"] <= nested["ts"]
    assert nested["ts"] + nested["dur"] <= served["ts"] + served["dur"]
    assert nested["args"]["parent"] == "p:1"


def test_calls_that_only_overlap_are_drawn_on_rows_of_their_own() -> None:
    """A short call served while a long one is served is not its child: not drawn inside."""
    trace = Trace()
    trace.add_calls(
        [
            rec("page.take", "web.0", at=0, dur=1.0, call_id="w:1"),
            rec("page.take", "web.1", at=0.2, dur=0.1, call_id="w:2"),
            rec("page.take", "web.0", at=2, dur=0.1, call_id="w:3"),
        ]
    )
    events = events_of(trace)
    served = [e for e in slices(events) if lane_of(events, e) == "background.0"]
    assert [e["tid"] % 10_000 for e in served] == [0, 1, 0]  # the third fits the first row


def test_tests_are_a_lane_and_calls_name_the_test_they_were_made_during() -> None:
    trace = Trace()
    trace.add_test("tests/test_a.py::test_ok", T0, T0 + 1, "passed")
    trace.add_test("tests/test_a.py::test_bad", T0 + 2, T0 + 3, "failed")
    trace.add_calls([rec("a.f", at=0.5), rec("a.g", at=1.5), rec("a.h", at=2.5)])
    events = events_of(trace)
    assert list(lanes(events).values())[:2] == ["tests", "pytest.0"]
    ok, bad = (e for e in slices(events) if e["cat"] == "test")
    assert (ok["name"], ok["args"]["nodeid"], ok["cname"]) == (
        "test_ok",
        "tests/test_a.py::test_ok",
        "good",
    )
    assert (bad["name"], bad["args"]["outcome"], bad["cname"]) == ("test_bad", "failed", "terrible")
    tested = {e["name"]: e["args"].get("test") for e in slices(events) if e["cat"] == "call"}
    assert tested["\u2192 a.f"] == "tests/test_a.py::test_ok"
    assert tested["\u2192 a.g"] is None  # between two tests
    assert tested["a.h"] == "tests/test_a.py::test_bad"
    assert trace.tests == 2


def test_parts_of_several_workers_keep_their_own_lanes() -> None:
    worker = Trace()
    worker.add_calls([rec("a.f", call_id="x:1")])
    worker.add_test("t.py::test_a", T0, T0 + 1, "passed")
    part = json.loads(json.dumps(worker.part()))  # it crosses to the controller as plain data
    merged = Trace()
    merged.add_part(part, group="gw0")
    merged.add_part(part, group="gw1")
    assert len(merged) == 2
    assert merged.tests == 2
    names = sorted(lanes(events_of(merged)).values())
    assert names == [
        "gw0 background.0",
        "gw0 pytest.0",
        "gw0 tests",
        "gw1 background.0",
        "gw1 pytest.0",
        "gw1 tests",
    ]
    ordered = list(lanes(events_of(merged)).values())
    assert ordered[:3] == ["gw0 tests", "gw0 pytest.0", "gw0 background.0"]


def test_a_part_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not a part of a hubcore trace"):
        Trace().add_part({"calls": [{"caller": "x"}], "tests": []})
    with pytest.raises(ValueError, match="not a part of a hubcore trace"):
        Trace().add_part({"tests": []})


def test_a_trace_keeps_its_newest_calls_up_to_its_limit() -> None:
    trace = Trace(limit=3)
    trace.add_calls([rec("a.f", at=i, args=(i,)) for i in range(5)])
    assert (len(trace), trace.dropped) == (3, 2)
    data = trace.to_json()
    assert (data["otherData"]["dropped"], data["otherData"]["calls"]) == (2, 3)
    calls = [e["args"]["call"] for e in slices(data["traceEvents"]) if e["name"] == "a.f"]
    assert calls == ["a.f(2)", "a.f(3)", "a.f(4)"]


def test_write_writes_the_json_and_an_empty_trace_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    Trace().write(path)
    data = json.loads(path.read_text())
    assert data["traceEvents"] == []
    assert data["displayTimeUnit"] == "ms"


CALLS = st.lists(
    st.tuples(
        st.sampled_from(["pytest.0", "web.0", "web.1", "background.0"]),
        st.sampled_from(["web.0", "web.1", "background.0", ""]),
        st.integers(0, 2000),  # start, ms
        st.integers(0, 800),  # duration, ms
        st.integers(-1, 40),  # parent: index of an earlier call, or none
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(CALLS)
def test_the_slices_of_every_thread_nest_or_follow_each_other(
    calls: list[tuple[str, str, int, int, int]],
) -> None:
    """What the format requires of a thread's complete slices, whatever the calls."""
    records = []
    for i, (caller, callee, start, dur, parent) in enumerate(calls):
        parent_id = f"c:{parent}" if 0 <= parent < i else ""
        records.append(
            rec("o.m", caller, callee, at=start / 1000, dur=dur / 1000, call_id=f"c:{i}")
        )
        records[-1] = _with_parent(records[-1], parent_id)
    trace = Trace()
    trace.add_calls(records)
    events = events_of(trace)
    by_thread: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for e in slices(events):
        by_thread[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_thread.values():
        open_: list[int] = []
        for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
            while open_ and open_[-1] <= start:
                open_.pop()
            assert not open_ or end <= open_[-1], f"{(start, end)} overlaps a slice partly"
            open_.append(end)
    named = {(e["pid"], e["tid"]) for e in events if e.get("name") == "thread_name"}
    assert set(by_thread) <= named
    flows = [e for e in events if e["ph"] in "sf"]
    assert len(flows) == 2 * sum(1 for r in records if r.callee)


def _with_parent(record: hubcore.CallRecord, parent: str) -> hubcore.CallRecord:
    data = record.to_wire()
    data["parent"] = parent
    return hubcore.CallRecord.from_wire(data)


# -- the page ----------------------------------------------------------------------------------


def test_the_page_holds_the_trace_and_needs_no_network(tmp_path: Path) -> None:
    trace = Trace()
    trace.add_calls([rec("evil.f", args=("</script><script>alert(1)</script><!--",))])
    source = tmp_path / "run.json"
    trace.write(source)
    page = hubcore.trace.write_html(source).read_text()
    assert page.count("</script>") == 2  # the data's own cannot close its element
    assert "<!--" not in page
    assert "http://" not in page
    assert "https://" not in page
    data = page.split('id="trace-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data) == json.loads(source.read_text())
    assert "<title>run.json</title>" in page


def test_write_html_writes_beside_the_trace_unless_told(tmp_path: Path) -> None:
    source = tmp_path / "t.json"
    Trace().write(source)
    assert hubcore.trace.write_html(source) == tmp_path / "t.html"
    assert hubcore.trace.write_html(source, tmp_path / "x.html").is_file()


def test_write_html_refuses_what_is_not_a_trace(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match=r"bad.json is not JSON \(.*\): give a trace written by"):
        hubcore.trace.write_html(bad)
    bad.write_text('{"events": []}')
    with pytest.raises(ValueError, match=r"bad\.json is not a trace: expected a JSON object with"):
        hubcore.trace.write_html(bad)
    listed = tmp_path / "listed.json"
    listed.write_text('[{"ph": "X", "name": "a", "ts": 0, "dur": 1, "pid": 1, "tid": 1}]')
    assert hubcore.trace.write_html(listed).is_file()  # the format's plain list form
