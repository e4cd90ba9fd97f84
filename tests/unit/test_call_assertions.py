"""``hub_app.calls`` without processes: ``Calls`` fed CallRecords through its fetch seam.

Each test checks an assertion helper both ways (it passes on the calls it should accept and
fails, with the calls table, on those it should not), so a helper that accepts too much or
too little fails here.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

import hubcore
from pytest_hub import AsyncCalls, Calls

pytestmark = pytest.mark.timeout(30)

T0 = 1_700_000_000.0  # the calls' start times: any wall-clock time


def record(
    target: str,
    *args: Any,
    started: float = T0,
    caller: tuple[str, int] = ("pytest", 0),
    outcome: str = "result",
    detail: str = "None",
    duration: float = 0.0012,
    call_id: str = "",
    parent: str = "",
    callee: tuple[str, int] = ("background", 0),
    **kwargs: Any,
) -> hubcore.CallRecord:
    """A finished call of ``"object.method"`` as a caller records it."""
    obj, _, method = target.partition(".")
    return hubcore.CallRecord(
        caller[0], caller[1], callee[0], callee[1], obj, method, args, kwargs, outcome, detail,
        started, duration, call_id, parent,
    )  # fmt: skip


class Feed:
    """The fetch seam: each call returns the records added since the last one."""

    def __init__(self, *records: hubcore.CallRecord) -> None:
        self.pending = list(records)
        self.fetches = 0

    def add(self, *records: hubcore.CallRecord) -> None:
        self.pending.extend(records)

    def __call__(self) -> list[hubcore.CallRecord]:
        self.fetches += 1
        new, self.pending = self.pending, []
        return new


def calls_of(*records: hubcore.CallRecord) -> Calls:
    return Calls(Feed(*records))


def fails(check: Callable[[], object], message: str) -> str:
    """Run ``check``; it must raise AssertionError matching ``message``. Returns the text."""
    with pytest.raises(AssertionError, match=message) as excinfo:
        check()
    return str(excinfo.value)


# -- the record --------------------------------------------------------------------------------


def test_calls_pulls_new_records_at_each_read_and_keeps_them() -> None:
    feed = Feed(record("counter.increment", started=T0))
    calls = Calls(feed)
    assert len(calls) == 1
    feed.add(record("caller.bump", started=T0 + 1), record("counter.get_pid", started=T0 + 2))
    assert [f"{r.object}.{r.method}" for r in calls] == [
        "counter.increment",
        "caller.bump",
        "counter.get_pid",
    ]
    assert calls[-1].method == "get_pid"
    assert [r.method for r in calls[0:2]] == ["increment", "bump"]
    assert feed.fetches == 4  # every read looks again: a call that returned is never missed


def test_calls_of_and_count_select_by_object_or_method() -> None:
    calls = calls_of(
        record("counter.increment", 1),
        record("caller.bump"),
        record("counter.increment", 2),
        record("counter.get_pid"),
    )
    assert [r.args for r in calls.of("counter.increment")] == [(1,), (2,)]
    assert [r.method for r in calls.of("counter")] == ["increment", "increment", "get_pid"]
    assert calls.count("counter.increment") == 2
    assert calls.count("counter") == 3
    assert calls.count("caller.bump") == 1
    assert calls.count("counter.reset") == 0
    assert calls.count("count") == 0  # an object's name is matched whole, not as a prefix


# -- assert_called / assert_not_called ---------------------------------------------------------


def test_assert_called_passes_on_a_call_and_fails_on_none() -> None:
    calls = calls_of(record("counter.increment"))
    calls.assert_called("counter.increment")
    calls.assert_called("counter")
    text = fails(
        lambda: calls.assert_called("counter.get_pid"), "expected a call of counter.get_pid"
    )
    assert "saw none" in text
    fails(lambda: calls_of().assert_called("counter"), "expected a call of counter, saw none")


def test_assert_not_called_fails_on_any_call_and_says_how_many() -> None:
    calls = calls_of(record("counter.increment"), record("counter.increment"))
    calls.assert_not_called("counter.get_pid")
    calls.assert_not_called("caller")
    fails(
        lambda: calls.assert_not_called("counter.increment"),
        "expected no call of counter.increment, saw 2",
    )
    fails(lambda: calls.assert_not_called("counter"), "expected no call of counter, saw 2")
    calls_of().assert_not_called("counter")


# -- assert_called_once ------------------------------------------------------------------------


def test_assert_called_once_returns_the_one_call() -> None:
    only = record("counter.increment", 2)
    calls = calls_of(record("caller.bump"), only)
    assert calls.assert_called_once("counter.increment") is only
    assert calls.assert_called_once("counter.increment", 2) is only


def test_assert_called_once_fails_for_two_calls() -> None:
    calls = calls_of(record("counter.increment", 1), record("counter.increment", 2))
    fails(
        lambda: calls.assert_called_once("counter.increment"),
        "expected one call of counter.increment, saw 2",
    )
    # Even when only one of the two matches the arguments: once means once.
    fails(
        lambda: calls.assert_called_once("counter.increment", 2),
        r"expected one call of counter.increment\(2\), saw 2",
    )


def test_assert_called_once_fails_for_no_call() -> None:
    calls = calls_of(record("counter.get_pid"))
    fails(
        lambda: calls.assert_called_once("counter.increment"),
        "expected one call of counter.increment, saw 0",
    )


def test_assert_called_once_checks_the_arguments_given() -> None:
    calls = calls_of(record("counter.increment", 2, by=3))
    calls.assert_called_once("counter.increment", 2, by=3)
    fails(lambda: calls.assert_called_once("counter.increment", 5, by=3), "did not match")
    fails(lambda: calls.assert_called_once("counter.increment", 2), "did not match")
    fails(lambda: calls.assert_called_once("counter.increment", 2, 3), "did not match")
    fails(lambda: calls.assert_called_once("counter.increment", 2, by=3, x=1), "did not match")


def test_arguments_match_as_they_were_passed() -> None:
    """A call made as ``increment(by=2)`` is matched with ``by=2``, not with ``2``."""
    calls = calls_of(record("counter.increment", by=2))
    calls.assert_called_once("counter.increment", by=2)
    fails(lambda: calls.assert_called_once("counter.increment", 2), "did not match")


# -- assert_called_with ------------------------------------------------------------------------


def test_assert_called_with_looks_at_the_last_call() -> None:
    first = record("counter.increment", 1, started=T0)
    last = record("counter.increment", 2, started=T0 + 1)
    calls = calls_of(first, last, record("caller.bump", 1, started=T0 + 2))
    assert calls.assert_called_with("counter.increment", 2) is last
    fails(
        lambda: calls.assert_called_with("counter.increment", 1),
        r"expected counter.increment\(1\): the last call did not match",
    )


def test_assert_called_with_fails_when_there_is_no_call() -> None:
    calls = calls_of(record("caller.bump"))
    fails(
        lambda: calls.assert_called_with("counter.increment"),
        "expected counter.increment: no call",
    )


def test_assert_called_with_no_arguments_matches_a_call_without_any() -> None:
    calls = calls_of(record("counter.increment"))
    calls.assert_called_with("counter.increment")
    fails(lambda: calls.assert_called_with("counter.increment", 1), "the last call did not match")
    with_one = calls_of(record("counter.increment", 1))
    fails(lambda: with_one.assert_called_with("counter.increment"), "the last call did not match")


# -- predicates and mock.ANY -------------------------------------------------------------------


def test_predicates_and_any_match_arguments() -> None:
    calls = calls_of(record("page.open", "https://example.org", wait=True))
    calls.assert_called_with("page.open", lambda url: url.startswith("https://"), wait=True)
    calls.assert_called_with("page.open", mock.ANY, wait=mock.ANY)
    calls.assert_called_once("page.open", mock.ANY, wait=lambda w: w is True)
    fails(
        lambda: calls.assert_called_with("page.open", lambda url: url.startswith("ftp://")),
        "the last call did not match",
    )
    fails(
        lambda: calls.assert_called_once("page.open", mock.ANY, wait=lambda w: not w),
        "did not match",
    )
    fails(lambda: calls.assert_called_with("page.open", mock.ANY), "did not match")  # wait=


def test_a_class_is_compared_not_called() -> None:
    """``str`` is callable, but as an expected value it means the class itself."""
    calls = calls_of(record("page.open", "https://example.org"))
    fails(lambda: calls.assert_called_with("page.open", str), "the last call did not match")
    calls_of(record("codec.register", str)).assert_called_with("codec.register", str)


# -- table -------------------------------------------------------------------------------------


def test_table_lists_caller_callee_call_outcome_and_duration() -> None:
    calls = calls_of(
        record("caller.bump", duration=0.0083),
        record(
            "counter.increment",
            2,
            by=3,
            caller=("web", 1),
            outcome="error",
            detail="ValueError('boom')",
            started=T0 + 1,
            duration=0.25,
        ),
    )
    lines = calls.table().splitlines()
    assert lines[0].split() == ["caller", "callee", "call", "outcome", "ms"]
    assert lines[1].split() == [
        "pytest.0",
        "background.0",
        "caller.bump()",
        "result:",
        "None",
        "8.3",
    ]
    assert lines[2].split() == [
        "web.1",
        "background.0",
        "counter.increment(2,",
        "by=3)",
        "error:",
        "ValueError('boom')",
        "250.0",
    ]
    # Aligned: each column starts where its header does, whatever the widths of the cells.
    assert {line.index("background.0") for line in lines[1:]} == {lines[0].index("callee")}
    assert {lines[1].index("caller.bump"), lines[2].index("counter.")} == {lines[0].index("call ")}


def test_table_of_no_calls_says_none() -> None:
    assert calls_of().table() == "  (none)"


def test_table_shortens_a_long_call() -> None:
    calls = calls_of(record("page.open", "x" * 500))
    row = calls.table().splitlines()[1]
    assert "page.open('xxx" in row
    assert "x" * 100 not in row


def test_a_failed_assertion_ends_with_the_table_of_calls() -> None:
    calls = calls_of(record("caller.bump"), record("counter.increment", started=T0 + 1))
    text = fails(lambda: calls.assert_not_called("caller.bump"), "expected no call")
    head, _, table = text.partition("\n\ncross-process calls during this test:\n")
    assert head == "expected no call of caller.bump, saw 1"
    assert table == calls.table()


# -- wait_for ----------------------------------------------------------------------------------


class LateFeed(Feed):
    """A fetch that has the records only from its ``after``-th call on (calls made later)."""

    def __init__(self, after: int, *records: hubcore.CallRecord) -> None:
        super().__init__()
        self.after = after
        self.late = list(records)

    def __call__(self) -> list[hubcore.CallRecord]:
        if self.fetches + 1 == self.after:
            self.add(*self.late)
        return super().__call__()


def test_wait_for_looks_again_until_the_call_is_made() -> None:
    bump = record("caller.bump")
    feed = LateFeed(3, record("counter.increment", 1), bump)
    calls = Calls(feed)
    started = time.monotonic()
    assert calls.wait_for("caller.bump", timeout=10) is bump
    assert feed.fetches == 3
    assert time.monotonic() - started < 5


def test_wait_for_counts_and_matches_arguments() -> None:
    feed = LateFeed(2, record("counter.increment", 1), record("counter.increment", 2))
    feed.add(record("counter.increment", 2, started=T0 - 1))
    calls = Calls(feed)
    found = calls.wait_for("counter.increment", 2, count=2, timeout=10)
    assert (found.args, found.started) == ((2,), T0)  # the last matching call
    assert feed.fetches == 2
    assert calls.wait_for("counter.increment", lambda by: by < 2, timeout=10).args == (1,)


def test_wait_for_fails_after_its_timeout_saying_what_it_saw() -> None:
    feed = Feed(record("counter.increment"))
    calls = Calls(feed)
    started = time.monotonic()
    fails(
        lambda: calls.wait_for("counter.increment", count=2, timeout=0.1),
        r"waited 0.1s for 2 call\(s\) of counter.increment, saw 1",
    )
    assert 0.1 <= time.monotonic() - started < 5
    assert feed.fetches >= 2  # it kept looking until the deadline
    fails(
        lambda: calls.wait_for("counter.increment", 7, timeout=0),
        r"waited 0s for 1 call\(s\) of counter.increment\(7\), saw 0",
    )


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_wait_for_shares_the_record_and_awaits_its_fetch() -> None:
    bump = record("caller.bump")
    calls = Calls(Feed())
    looks = 0

    async def fetch_async() -> list[hubcore.CallRecord]:
        nonlocal looks
        looks += 1
        return [bump] if looks == 2 else []

    async_calls = AsyncCalls(calls, fetch_async)
    assert await async_calls.wait_for("caller.bump", timeout=10) is bump
    assert looks == 2
    assert calls.assert_called_once("caller.bump") is bump  # one record for both views
    with pytest.raises(AssertionError, match=r"waited 0\.05s for 2 call"):
        await async_calls.wait_for("caller.bump", count=2, timeout=0.05)


def test_table_cuts_the_call_at_70_characters_and_the_outcome_at_50() -> None:
    long = record("page.open", "x" * 500, outcome="error", detail="y" * 500)
    short = record("page.open", "x" * 10)
    table = calls_of(long, short).table().splitlines()
    call = "page.open('" + "x" * 59  # 70 characters
    outcome = "error: " + "y" * 43  # 50 characters
    assert f"  {call}  {outcome}  " in table[1]
    assert table[2].index("result: None") == table[1].index(outcome)  # aligned columns


def test_wait_for_waits_5_s_by_default() -> None:
    """The default of pytest.md: 5 s, the same in a sync and an async test."""
    for view in (Calls, AsyncCalls):
        assert inspect.signature(view.wait_for).parameters["timeout"].default == 5.0


# -- chains: nested calls in the table, via= ---------------------------------------------------


def chain() -> list[hubcore.CallRecord]:
    """The test calls web.snapshot; while serving it, web calls page_snapshot.take, and that
    calls storage.put. A second take is made by web on its own (no parent)."""
    return [
        record("web.snapshot", "u", call_id="pytest.0/1:1", callee=("worker", 0)),
        record(
            "page_snapshot.take",
            "u",
            caller=("worker", 0),
            call_id="worker.0/2:1",
            parent="pytest.0/1:1",
            started=T0 + 0.1,
        ),
        record(
            "storage.put",
            caller=("background", 0),
            callee=("store", 0),
            call_id="background.0/3:1",
            parent="worker.0/2:1",
            started=T0 + 0.2,
        ),
        record("page_snapshot.take", "v", caller=("worker", 0), call_id="w/2:2", started=T0 + 1),
    ]


def _call_cell(lines: list[str], line: str) -> str:
    """The text of a row's call column (the header's ``call`` to its ``outcome``)."""
    return line[lines[0].index("call ") : lines[0].index("outcome")].rstrip()


def test_table_shows_a_nested_call_under_the_call_it_was_made_for() -> None:
    records = chain()
    # The record holds the calls in the order they started: the unrelated take first here.
    records[3] = dataclasses.replace(records[3], started=T0 + 0.05)
    calls = calls_of(*sorted(records, key=lambda r: r.started))
    lines = calls.table().splitlines()
    assert [_call_cell(lines, line) for line in lines[1:]] == [
        "web.snapshot('u')",
        "\\_ page_snapshot.take('u')",
        "   \\_ storage.put()",
        "page_snapshot.take('v')",
    ]
    assert [line.split()[0] for line in lines[1:]] == [
        "pytest.0",
        "worker.0",
        "background.0",
        "worker.0",
    ]


def test_table_marks_a_call_whose_parent_is_not_in_the_record() -> None:
    calls = calls_of(*chain()[1:])  # web.snapshot was drained before the test began
    lines = calls.table().splitlines()
    assert [_call_cell(lines, line) for line in lines[1:4]] == [
        "..\\_ page_snapshot.take('u')",
        "   \\_ storage.put()",
        "page_snapshot.take('v')",
    ]
    assert lines[4] == "  (..\\_: made while serving a call that is not in the record)"


def test_table_of_calls_in_a_loop_of_parents_shows_each_once() -> None:
    a = record("a.f", call_id="x:1", parent="x:2")
    b = record("b.g", call_id="x:2", parent="x:1", started=T0 + 1)
    lines = calls_of(a, b).table().splitlines()
    assert len(lines) == 4  # the header, a and b, the note
    assert sum("a.f()" in line for line in lines) == sum("b.g()" in line for line in lines) == 1


def test_via_selects_calls_made_while_serving_a_call_of_it() -> None:
    calls = calls_of(*chain())
    assert [r.args for r in calls.of("page_snapshot.take", via="web.snapshot")] == [("u",)]
    assert calls.count("page_snapshot.take", via="web") == 1
    assert calls.count("storage.put", via="web.snapshot") == 1  # through page_snapshot.take
    assert calls.count("storage.put", via="page_snapshot") == 1
    assert calls.count("page_snapshot.take", via="storage.put") == 0
    assert calls.count("web.snapshot", via="web.snapshot") == 0  # a call is not its own parent
    calls.assert_called("page_snapshot.take", via="web.snapshot")
    calls.assert_not_called("page_snapshot.take", via="storage")
    assert calls.assert_called_once("page_snapshot.take", via="web.snapshot").args == ("u",)
    assert calls.assert_called_with("page_snapshot.take", "u", via="web.snapshot").args == ("u",)
    calls.assert_called_once("page_snapshot.take", "u", via="web.snapshot")


def test_via_fails_saying_which_calls_were_made_outside_it() -> None:
    calls = calls_of(*chain())
    text = fails(
        lambda: calls.assert_called("page_snapshot.take", via="caller.bump"),
        "expected a call of page_snapshot.take via caller.bump, saw none",
    )
    head = text.partition("\n")[0]
    assert head.endswith("(2 calls of page_snapshot.take were made outside caller.bump)")
    fails(
        lambda: calls.assert_not_called("storage.put", via="web.snapshot"),
        "expected no call of storage.put via web.snapshot, saw 1",
    )
    fails(
        lambda: calls.assert_called_once("page_snapshot.take", "v", via="web.snapshot"),
        r"the call of page_snapshot.take via web.snapshot did not match \('v'\)",
    )
    fails(
        lambda: calls.assert_called_with("page_snapshot.take", "v", via="web.snapshot"),
        r"expected page_snapshot.take via web.snapshot\('v'\): the last call did not match",
    )


def test_via_cannot_judge_a_call_whose_parent_is_not_in_the_record() -> None:
    calls = calls_of(*chain()[1:])  # web.snapshot was drained before the test began
    assert calls.count("page_snapshot.take", via="web.snapshot") == 0
    assert calls.count("storage.put", via="page_snapshot.take") == 1  # that link is known
    text = fails(
        lambda: calls.assert_called_once("page_snapshot.take", via="web.snapshot"),
        "expected one call of page_snapshot.take via web.snapshot, saw 0",
    )
    assert text.partition("\n")[0].endswith(
        "(1 call of page_snapshot.take was made outside web.snapshot; 1 call of "
        "page_snapshot.take was made while serving a call that is not in the record (made "
        "before the test began, or dropped))"
    )


def test_wait_for_via_waits_for_a_nested_call() -> None:
    records = chain()
    feed = LateFeed(3, records[0], records[1])
    feed.add(records[3])  # an unrelated take, at once
    calls = Calls(feed)
    assert calls.wait_for("page_snapshot.take", "u", via="web.snapshot", timeout=10) is records[1]
    assert feed.fetches == 3
    fails(
        lambda: calls.wait_for("page_snapshot.take", "u", via="caller", timeout=0),
        r"waited 0s for 1 call\(s\) of page_snapshot.take via caller\('u'\), saw 0 \(2 calls",
    )


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_wait_for_waits_out_its_whole_timeout() -> None:
    """A call that comes 0.6 s into a 1.5 s wait is found: the wait does not give up early."""
    bump = record("caller.bump")
    started = time.monotonic()

    async def fetch_async() -> list[hubcore.CallRecord]:
        return [bump] if time.monotonic() - started >= 0.6 else []

    async_calls = AsyncCalls(Calls(Feed()), fetch_async)
    assert await async_calls.wait_for("caller.bump", timeout=1.5) is bump


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_view_assertions_pull_the_records_too() -> None:
    """The assertions of the async view (all but wait_for) pull through the sync fetch."""

    async def fetch_async() -> list[hubcore.CallRecord]:
        return []

    bump = record("caller.bump")
    async_calls = AsyncCalls(Calls(Feed(bump)), fetch_async)
    assert async_calls.assert_called_once("caller.bump") is bump


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_wait_for_via() -> None:
    records = chain()

    async def fetch_async() -> list[hubcore.CallRecord]:
        return records

    async_calls = AsyncCalls(Calls(Feed()), fetch_async)
    found = await async_calls.wait_for("storage.put", via="web.snapshot", timeout=10)
    assert found.parent == "worker.0/2:1"
    assert found is records[2]
