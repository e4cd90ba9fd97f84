"""What a report says of a process that died during a test, without processes: which calls
were in flight to it (chosen from synthetic records), how the section reads, and which
sections a report gets (from a stand-in for ``hub_app``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import hubcore
from pytest_hub._crash import NOT_SEEN, Baseline, Crash, describe, find_crashes, in_flight_to
from pytest_hub._fixtures import HUB_APP_KEY
from pytest_hub._report import add_hub_sections

pytestmark = pytest.mark.timeout(30)

T0 = 1_700_000_000.0
DIED = T0 + 10.0
DEAD_PID = 2**22 + 1  # above Linux's largest pid_max: never a live process


def crash(ended_at: float | None = DIED, **changes: Any) -> Crash:
    values: dict[str, Any] = {
        "label": "background.0",
        "name": "background",
        "pid": 4711,
        "exit_code": None,
        "signal": 9,
        "reason": "killed by SIGKILL",
        "output": ("about to die",),
        "ended_at": ended_at,
    }
    return Crash(**{**values, **changes})


def record(
    target: str,
    *args: Any,
    started: float,
    duration: float = 1.0,
    outcome: str = "result",
    callee: tuple[str, int] = ("background", 0),
    caller: tuple[str, int] = ("worker", 1),
    detail: str = "None",
) -> hubcore.CallRecord:
    obj, _, method = target.partition(".")
    return hubcore.CallRecord(
        caller[0], caller[1], callee[0], callee[1], obj, method, args, {}, outcome, detail,
        started, duration, f"{caller[0]}.{caller[1]}/1:{started}",
    )  # fmt: skip


def test_in_flight_to_keeps_the_calls_to_the_dead_process_that_spanned_its_death() -> None:
    crashed = record("counter.increment", 1, started=DIED - 0.5, outcome="crash", duration=0.6)
    spanning = record("counter.get_pid", started=DIED - 1, duration=2, outcome="timeout")
    before = record("counter.increment", 2, started=DIED - 5, duration=1)  # ended before
    after = record("counter.increment", 3, started=DIED + 1)  # to the restarted process
    elsewhere = record("caller.bump", started=DIED - 1, duration=3, callee=("worker", 0))
    other_instance = record("counter.say", started=DIED - 1, duration=3, callee=("background", 1))
    records = [before, spanning, crashed, after, elsewhere, other_instance]
    assert in_flight_to(crash(), records) == [spanning, crashed]


def test_in_flight_to_keeps_every_crash_when_the_death_time_is_unknown() -> None:
    crashed = record("counter.increment", started=DIED - 0.5, outcome="crash")
    spanning = record("counter.get_pid", started=DIED - 1, duration=2)
    assert in_flight_to(crash(ended_at=None), [spanning, crashed]) == [crashed]


def test_in_flight_to_adds_calls_still_waiting_that_started_before_the_death() -> None:
    waiting = record("counter.wait", started=DIED - 2, outcome="in flight", duration=2.5)
    later = record("counter.wait", started=DIED + 0.1, outcome="in flight")
    to_a_worker = record("caller.bump", started=DIED - 2, outcome="in flight", callee=("worker", 1))
    assert in_flight_to(crash(), [], [later, waiting, to_a_worker]) == [waiting]
    assert in_flight_to(crash(ended_at=None), [], [later, waiting]) == [waiting, later]


def test_describe_tables_the_calls_in_flight_with_their_time_at_the_death() -> None:
    calls = [
        record(
            "counter.increment",
            2,
            started=DIED - 0.5,
            duration=0.75,
            outcome="crash",
            detail="ProcessCrashed('process background.0 killed by signal 9')",
        ),
        record(
            "counter.wait",
            20,
            started=DIED - 1.25,
            duration=3,
            outcome="in flight",
            caller=("pytest", 0),
        ),
    ]
    text = describe(crash(), calls)
    assert text.splitlines() == [
        "hub process background.0 (pid 4711) died during the test: killed by signal 9",
        "  reason: killed by SIGKILL",
        "  calls in flight to it (2):",
        "    caller    call                  at the death  then",
        "    worker.1  counter.increment(2)  0.50 s        crash after 0.75 s: "
        "ProcessCrashed('process background.0 killed by signal 9')",
        "    pytest.0  counter.wait(20)      1.25 s        still waiting after 3.00 s",
        "  last output:",
        "    about to die",
        "  (expected it? mark the test @pytest.mark.hub_allow_crash('background') or use "
        "hub_app.kill())",
    ]


def test_describe_without_a_death_time_or_calls_says_so() -> None:
    calls = [record("counter.increment", started=DIED, outcome="crash")]
    row = describe(crash(ended_at=None), calls).splitlines()[4]
    assert row.split()[:3] == ["worker.1", "counter.increment()", "-"]
    assert "  calls in flight to it: none recorded" in describe(crash(), []).splitlines()


def test_describe_an_expected_death_gives_no_hint() -> None:
    text = describe(crash(), [], expected=True)
    assert text.startswith("hub process background.0 (pid 4711) died during the test (expected)")
    assert "hub_allow_crash" not in text


def test_describe_shortens_a_long_call_and_a_long_error() -> None:
    long = record("page.open", "x" * 300, started=DIED - 1, outcome="crash", detail="E" * 300)
    row = describe(crash(), [long]).splitlines()[4]
    assert "page.open('xxx" in row
    assert "x" * 100 not in row
    assert "E" * 100 not in row


def _snapshot(**changes: Any) -> dict[str, Any]:
    values = {
        "name": "background",
        "instance": 0,
        "pid": 5000,
        "restarts": 1,
        "exit_code": None,
        "signal": 9,
        "reason": "killed by SIGKILL",
        "ended_at": DIED,
    }
    return {**values, **changes}


def test_find_crashes_takes_the_death_time_and_how_from_a_death_seen_during_the_test() -> None:
    baselines = {"background.0": Baseline("background.0", 4711, 0, 0)}
    [found] = find_crashes(baselines, [_snapshot()], {}, since=DIED - 5)
    assert (found.pid, found.signal, found.reason, found.ended_at) == (
        4711,
        9,
        "killed by SIGKILL",
        DIED,
    )


def test_find_crashes_does_not_tell_an_earlier_death_for_one_not_seen_yet() -> None:
    """The pid is dead, the supervisor has not seen it: the record still tells the death
    before (SIGKILL at DIED), which is not this one."""
    baselines = {"background.0": Baseline("background.0", DEAD_PID, 1, 0)}
    snapshot = _snapshot(pid=DEAD_PID)  # the baseline's pid, dead but not seen
    [found] = find_crashes(baselines, [snapshot], {}, since=DIED + 5)
    assert (found.exit_code, found.signal, found.reason, found.ended_at) == (
        None,
        None,
        NOT_SEEN,
        None,
    )
    assert describe(found).splitlines()[0].endswith(f"died during the test: {NOT_SEEN}")


# -- the report's sections ---------------------------------------------------------------------


class FakeHandle:
    """What the report asks of ``hub_app``: deaths, the calls, the output."""

    started = True

    def __init__(self, deaths: list[Crash], expected: set[str] = frozenset(), **calls: Any) -> None:
        self._deaths = deaths
        self._expected = expected
        self._calls = calls
        self.seen: list[Crash] = []

    def deaths(self) -> list[Crash]:
        return self._deaths

    def expected(self, crash: Crash) -> bool:
        return crash.name in self._expected

    def see_deaths(self, deaths: list[Crash]) -> None:
        self.seen += deaths

    def calls_at_report(self) -> tuple[list[hubcore.CallRecord], list[hubcore.CallRecord]]:
        if "error" in self._calls:
            raise self._calls["error"]
        return self._calls.get("records", []), self._calls.get("pending", [])

    def output_since_start(self) -> dict[str, list[str]]:
        return {"background.0": ["said"], "worker.0": []}


def _report_of(handle: FakeHandle, outcome: str = "passed") -> pytest.TestReport:
    item = SimpleNamespace(stash=pytest.Stash())
    item.stash[HUB_APP_KEY] = handle
    report = pytest.TestReport("t.py::test", ("t.py", 1, "test"), {}, outcome, None, "call")
    add_hub_sections(item, report)
    return report


def test_a_passing_test_that_saw_an_unexpected_death_fails_with_it() -> None:
    crashed = record("counter.crash", started=DIED - 0.1, outcome="crash", caller=("pytest", 0))
    handle = FakeHandle([crash()], records=[crashed])
    report = _report_of(handle)
    assert report.failed
    assert str(report.longrepr).startswith("hub process background.0 (pid 4711) died during")
    assert "    pytest.0  counter.crash()  0.10 s" in str(report.longrepr)
    assert report.sections == [("hub output: background.0", "said")]
    assert handle.seen == [crash()]


def test_a_failing_test_gets_a_section_per_death_expected_or_not() -> None:
    killed = crash(label="worker.1", name="worker")
    waiting = record("counter.wait", started=DIED - 1, outcome="in flight")
    handle = FakeHandle([crash(), killed], expected={"worker"}, pending=[waiting])
    report = _report_of(handle, "failed")
    assert report.longrepr is None  # the test's own error stays
    titles = [title for title, _ in report.sections]
    assert titles == ["hub crash: background.0", "hub crash: worker.1", "hub output: background.0"]
    background, worker = report.sections[0][1], report.sections[1][1]
    assert "counter.wait()" in background
    assert "still waiting after 1.00 s" in background
    assert "died during the test (expected)" in worker


def test_a_passing_test_with_only_an_expected_death_passes_and_asks_nothing() -> None:
    handle = FakeHandle([crash()], expected={"background"}, error=AssertionError("not asked"))
    report = _report_of(handle)
    assert report.passed
    assert report.sections == []
    assert handle.seen == []


def test_the_report_is_made_when_the_calls_cannot_be_listed() -> None:
    handle = FakeHandle([crash()], error=hubcore.HubError("the hub is gone"))
    report = _report_of(handle)
    assert report.failed
    text = str(report.longrepr)
    assert text.endswith("(the calls in flight could not be listed: HubError('the hub is gone'))")
    assert "calls in flight to it: none recorded" in text
