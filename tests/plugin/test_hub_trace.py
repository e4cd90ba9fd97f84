"""``--hub-trace=PATH``: an inner session writes every cross-process call of its tests as a
Chrome trace (with and without xdist), and the viewer draws it in a real headless Chromium."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import hubcore.trace
from tests.chromium import headless, require_chromium

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner

pytestmark = pytest.mark.timeout(120)

CALLS = """
import pytest


def test_bump(proxy):
    assert proxy("caller").bump()["count"] >= 1          # pytest -> worker -> background


def test_increment(proxy):
    assert proxy("counter").increment(2) >= 2


def test_fails(proxy):
    proxy("counter").increment(3)
    pytest.fail("failing on purpose")


@pytest.mark.anyio
async def test_async(proxy):
    assert await proxy("counter").increment(4) >= 4
"""


ASYNCIO_ONLY = """
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def _session(pytester: pytest.Pytester) -> None:
    """The inner session's tests: four, one of them async (on asyncio only), one failing."""
    pytester.makepyfile(test_calls=CALLS)
    pytester.makeconftest(ASYNCIO_ONLY)


def _events(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    assert data["otherData"]["generator"] == "hubcore"
    events: list[dict[str, Any]] = data["traceEvents"]
    return events


def _lanes(events: list[dict[str, Any]]) -> dict[int, str]:
    return {e["pid"]: e["args"]["name"] for e in events if e.get("name") == "process_name"}


def _calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The callee's slice of each call."""
    return [e for e in events if e["ph"] == "X" and e["cat"] == "call" and e["name"][0] != "\u2192"]


def test_hub_trace_writes_every_call_of_the_session(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    _session(pytester)
    run = inner.run("--hub-trace=out/trace.json", "-p", "no:randomly", procfile=inner.toy)
    assert "--hub-trace=out/trace.json: the folder" in run.result.stderr.str()
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR

    run = inner.run("--hub-trace=trace.json", "-p", "no:randomly", procfile=inner.toy)
    path = pytester.path / "trace.json"
    assert run.outcomes["test_fails"] == "failed"
    run.result.stdout.fnmatch_lines(
        [
            "*- hub trace -*",
            f"hub trace: 5 cross-process calls of 4 tests written to {path} (open it in Perfetto"
            f" or chrome://tracing, or: hubcore trace view {path})",
        ]
    )
    events = _events(path)
    lanes = _lanes(events)
    assert list(lanes.values())[:2] == ["tests", "pytest.0"]
    assert {"background.0", "worker.0", "worker.1"} & set(lanes.values())
    calls = _calls(events)
    assert Counter(e["name"] for e in calls) == {"counter.increment": 4, "caller.bump": 1}
    tests = {e["name"]: e for e in events if e["ph"] == "X" and e["cat"] == "test"}
    assert set(tests) == {"test_bump", "test_increment", "test_fails", "test_async"}
    assert tests["test_fails"]["cname"] == "terrible"
    assert tests["test_fails"]["args"]["outcome"] == "failed"
    assert tests["test_bump"]["args"]["outcome"] == "passed"
    of_test = {e["args"]["call"]: e["args"].get("test", "") for e in calls}
    assert of_test["counter.increment(3)"].endswith("test_calls.py::test_fails")
    assert of_test["caller.bump()"].endswith("test_calls.py::test_bump")
    assert of_test["counter.increment()"].endswith("test_calls.py::test_bump")  # the worker's
    # The caller's and the callee's slices of each call are joined by an arrow.
    assert Counter(e["ph"] for e in events if e["ph"] in "sf") == {"s": 5, "f": 5}


def test_hub_trace_under_xdist_gives_each_worker_its_own_lanes(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    _session(pytester)
    run = inner.run("--hub-trace=trace.json", "-n", "2", "-p", "no:randomly", procfile=inner.toy)
    assert run.outcomes["test_bump"] == "passed"
    events = _events(pytester.path / "trace.json")
    lanes = set(_lanes(events).values())
    assert {"gw0 tests", "gw1 tests", "gw0 pytest.0", "gw1 pytest.0"} <= lanes
    assert len(_calls(events)) == 5
    tests = [e["args"]["nodeid"] for e in events if e["ph"] == "X" and e["cat"] == "test"]
    assert sorted(t.rpartition("::")[2] for t in tests) == [
        "test_async",
        "test_bump",
        "test_fails",
        "test_increment",
    ]
    run.result.stdout.fnmatch_lines(["hub trace: 5 cross-process calls of 4 tests written to *"])


def test_the_viewer_draws_the_lanes_of_a_real_trace_in_chromium(
    pytester: pytest.Pytester, inner: Inner, tmp_path: Path
) -> None:
    require_chromium("the trace viewer's test needs")
    _session(pytester)
    inner.run("--hub-trace=trace.json", "-p", "no:randomly", procfile=inner.toy)
    page = hubcore.trace.write_html(pytester.path / "trace.json", tmp_path / "trace.html")
    dom = headless(
        tmp_path / "profile",
        "--window-size=1400,900",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    )
    labels = re.findall(r'<div class="lane[^"]*" data-label="([^"]+)"', dom)
    assert labels[:2] == ["tests", "pytest.0"]
    assert {"background.0", "worker.0", "worker.1"} & set(labels)
    timeline = re.search(r'<div id="timeline" data-slices="(\d+)" data-arrows="(\d+)"', dom)
    assert timeline is not None, dom[:2000]
    # 4 tests, and 5 calls drawn on both sides; at full width, none hides another.
    assert int(timeline.group(1)) >= 4 + 5
    assert int(timeline.group(2)) == 5
    assert len(re.findall(r'<path class="flow" marker-end="url\(#arrow\)" d="M-?\d', dom)) == 5
    assert "test_fails" in dom
    assert re.search(r"failed: <a>\u2716 test_calls.py::test_fails</a>", dom)
    shot = tmp_path / "trace.png"
    headless(tmp_path / "profile", "--window-size=1400,900", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000  # a picture, not a blank page
