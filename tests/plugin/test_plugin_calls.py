"""Calls through ``proxy``, the call record of ``hub_app.calls``, fault injection, timeouts,
``pause`` and the facts ``hub_app`` gives. Most of it runs in one inner session of the basic
app (one boot); the cases that fail on their own get a small session each."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


CALLS = """
import os
import threading
import time
from unittest import mock

import pytest

import hubcore

RUNNING = dict.fromkeys(["background.0", "worker.0", "worker.1", "hog.0"], "running")


def test_sync_call_through_another_process(proxy, hub_app):
    assert proxy("caller").bump()["via"] != os.getpid()
    record = hub_app.calls.assert_called_once("counter.increment")
    assert (record.caller, record.callee, record.outcome) == ("worker", "background", "result")
    hub_app.calls.assert_called_once("caller.bump")
    hub_app.calls.assert_called_with("counter.increment")
    hub_app.calls.assert_called("caller.bump")
    hub_app.calls.assert_not_called("counter.get_pid")
    assert hub_app.calls.count("counter.increment") == 1
    assert [f"{r.object}.{r.method}" for r in hub_app.calls] == ["caller.bump", "counter.increment"]
    assert [r.method for r in hub_app.calls.of("caller")] == ["bump"]
    assert "counter.increment()" in hub_app.calls.table()


@pytest.mark.anyio
async def test_async_call_and_argument_matching(proxy, hub_app):
    # Runs on asyncio, uvloop, then trio: each run sees only its own call.
    assert await proxy("counter").increment(2) >= 2
    record = hub_app.calls.assert_called_once("counter.increment", 2)
    assert (record.caller, record.args, record.outcome) == ("pytest", (2,), "result")
    hub_app.calls.assert_called_with("counter.increment", lambda by: by > 1)
    hub_app.calls.assert_called_with("counter.increment", mock.ANY)
    hub_app.calls.assert_not_called("caller.bump")
    with pytest.raises(AssertionError, match=r"expected counter.increment\\(5\\): the last call"):
        hub_app.calls.assert_called_with("counter.increment", 5)
    with pytest.raises(AssertionError, match="expected no call of counter.increment, saw 1"):
        hub_app.calls.assert_not_called("counter.increment")
    with pytest.raises(AssertionError, match="did not match"):
        hub_app.calls.assert_called_once("counter.increment", lambda by: by > 2)


def test_wait_for_a_call_made_in_the_background(proxy, hub_app):
    timer = threading.Timer(0.2, proxy("caller").bump)
    timer.start()
    record = hub_app.calls.wait_for("counter.increment", timeout=5)
    assert record.caller == "worker"
    timer.join(5)
    with pytest.raises(AssertionError, match=r"waited 0.2s for 2 call\\(s\\) of counter.increment"):
        hub_app.calls.wait_for("counter.increment", count=2, timeout=0.2)


def test_wrong_call_assertion_shows_the_calls(proxy, hub_app):
    proxy("caller").bump()
    hub_app.calls.assert_called_once("counter.get_pid")


def test_inject_delay_makes_the_call_time_out(proxy, hub_app):
    with hub_app.inject("counter.increment", delay=5):
        with pytest.raises(hubcore.CallTimeout):
            proxy("counter", timeout=0.3).increment()
    assert proxy("counter", timeout=2).increment() >= 1
    assert hub_app.calls.of("counter.increment")[0].outcome == "timeout"


def test_inject_error_raises_it_in_the_test(proxy, hub_app):
    with hub_app.inject("counter.increment", error=ValueError("boom")):
        with pytest.raises(ValueError, match="boom") as excinfo:
            proxy("counter").increment()
    assert isinstance(excinfo.value, hubcore.RemoteError)
    with hub_app.inject("counter.get_pid", error=PermissionError):
        with pytest.raises(PermissionError):
            proxy("counter").get_pid()
    assert proxy("counter").increment() >= 1


def test_inject_crash_is_an_expected_crash(proxy, hub_app):
    with hub_app.inject("counter.increment", crash=True):
        with pytest.raises(hubcore.ProcessCrashed):
            proxy("counter").increment()


def test_injected_method_works_again_in_the_next_test(proxy, hub_app):
    assert proxy("counter").increment() == 1  # a new process: the count starts over
    assert proxy("counter").get_pid() == hub_app.processes["background.0"]["pid"]


def test_inject_into_an_unpublished_object_is_refused(hub_app):
    with pytest.raises(hubcore.HubError, match="no process publishes it"):
        with hub_app.inject("nobody.method", delay=1):
            pass


@pytest.mark.hub_timeout(0.3)
def test_hub_timeout_marker_sets_the_default_timeout(proxy, hub_app):
    started = time.monotonic()
    with hub_app.inject("counter.increment", delay=5):
        with pytest.raises(hubcore.CallTimeout):
            proxy("counter").increment()
    assert time.monotonic() - started < 3


def test_facts_about_the_topology(hub_app):
    assert isinstance(hub_app.config("hog")["port"], int)
    assert {label: p["state"] for label, p in hub_app.processes.items()} == RUNNING
    assert all(isinstance(p["pid"], int) for p in hub_app.processes.values())
    logs = hub_app.logs("background")
    assert isinstance(logs, list)
    assert all(isinstance(line, str) for line in logs)
    with pytest.raises(KeyError, match="no service 'nope'"):
        hub_app.config("nope")


def test_service_starts_a_child_process(proxy):
    # A browser-like child of background: stopping the app must take it down too (the outer
    # test checks that nothing of this session is left running).
    assert proxy("counter").spawn_child() > 0


def test_pause_silences_a_process_for_the_block(proxy, hub_app):
    counter = proxy("counter", timeout=0.3)
    assert counter.increment() >= 1  # an open connection; a new one: PAUSE_COLD
    with hub_app.pause("background"):
        with pytest.raises(hubcore.CallTimeout):
            counter.increment()
        assert hub_app.processes["background.0"]["state"] == "running"
    assert counter.increment() >= 1
"""


@pytest.mark.timeout(120)
def test_calls_faults_timeouts_and_facts_in_one_session(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """Sync and async (asyncio, uvloop, trio) calls, call assertions, inject, hub_timeout, pause,
    processes/logs/config, the report header and the session summary; afterwards no process
    of the session runs, not even a service's own child."""
    inner.use_every_anyio_backend()
    pytester.makepyfile(test_calls=CALLS)
    run = inner.run("--hub-call-timeout=7", procfile=inner.basic)
    result = run.result
    result.stdout.fnmatch_lines(
        [
            f"hub: procfile {inner.basic}, call timeout 7s",
            "*_ test_wrong_call_assertion_shows_the_calls _*",
            "E * AssertionError: expected one call of counter.get_pid, saw 0",
            "E *cross-process calls during this test:",
            "E *caller * callee * call * outcome * ms*",
            "E *pytest.0 * worker.? * caller.bump() * result: {'count': *",
            "E *worker.? * background.0 * counter.increment() * result: *",
            "*- hub summary -*",
            "4 processes booted, 1 restarts, * cross-process calls, p50 * ms, p99 * ms",
        ]
    )
    assert run.outcomes == {
        "test_sync_call_through_another_process": "passed",
        "test_async_call_and_argument_matching[asyncio]": "passed",
        "test_async_call_and_argument_matching[uvloop]": "passed",
        "test_async_call_and_argument_matching[trio]": "passed",
        "test_wait_for_a_call_made_in_the_background": "passed",
        "test_wrong_call_assertion_shows_the_calls": "failed",
        "test_inject_delay_makes_the_call_time_out": "passed",
        "test_inject_error_raises_it_in_the_test": "passed",
        "test_inject_crash_is_an_expected_crash": "passed",
        "test_injected_method_works_again_in_the_next_test": "passed",
        "test_inject_into_an_unpublished_object_is_refused": "passed",
        "test_hub_timeout_marker_sets_the_default_timeout": "passed",
        "test_facts_about_the_topology": "passed",
        "test_service_starts_a_child_process": "passed",
        "test_pause_silences_a_process_for_the_block": "passed",
    }
    result.assert_outcomes(passed=14, failed=1)


INJECT_ASYNC = """
import time

import pytest

import hubcore


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.hub_timeout(0.3)
@pytest.mark.anyio
async def test_inject_in_an_async_test(proxy, hub_app):
    started = time.monotonic()
    async with hub_app.inject("counter.increment", delay=5):
        with pytest.raises(hubcore.CallTimeout):
            await proxy("counter").increment()
    assert time.monotonic() - started < 2
    assert await proxy("counter").increment() == 1
"""


@pytest.mark.timeout(120)
def test_inject_in_an_async_test_takes_effect_at_once(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """``async with hub_app.inject`` (and the hub_timeout marker) in an async test: the fault
    is in place for the block and gone after it, without asking the test's own client."""
    pytester.makepyfile(test_inject=INJECT_ASYNC)
    run = inner.run(procfile=inner.toy)
    assert run.outcomes == {"test_inject_in_an_async_test[asyncio]": "passed"}
    run.result.assert_outcomes(passed=1)


PAUSE_COLD = """
import time

import pytest

import hubcore


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_pause_in_an_async_test(proxy, hub_app):
    # An async test has its own client: its first call opens the connection.
    started = time.monotonic()
    with hub_app.pause("background"):
        with pytest.raises(hubcore.CallTimeout):
            await proxy("counter", timeout=0.3).increment()
    assert time.monotonic() - started < 2
    assert await proxy("counter").increment() >= 1


def test_pause_after_a_restart(proxy, hub_app):
    counter = proxy("counter", timeout=0.3)
    counter.increment()
    hub_app.restart("background")  # the next call opens a new connection
    started = time.monotonic()
    with hub_app.pause("background"):
        with pytest.raises(hubcore.CallTimeout):
            counter.increment()
    assert time.monotonic() - started < 2
"""


@pytest.mark.timeout(120)
def test_pause_times_out_within_the_call_timeout_on_a_new_connection(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """A call to a paused process that must first connect raises CallTimeout after the call's
    timeout, as one over an open connection does."""
    pytester.makepyfile(test_pause=PAUSE_COLD)
    run = inner.run(procfile=inner.toy)
    assert run.outcomes == {
        "test_pause_in_an_async_test[asyncio]": "passed",
        "test_pause_after_a_restart": "passed",
    }
    run.result.assert_outcomes(passed=2)


LAST_TEST_CALLS = """
import pytest


def test_calls(proxy):
    proxy("caller").bump()  # test -> worker, worker -> background


def test_three_more_calls(proxy):
    counter = proxy("counter")
    for _ in range(3):
        counter.increment()
"""


@pytest.mark.timeout(120)
def test_summary_counts_the_calls_of_every_test(pytester: pytest.Pytester, inner: Inner) -> None:
    """The session summary counts the calls of the last test too (5 calls here)."""
    pytester.makepyfile(test_count=LAST_TEST_CALLS)
    run = inner.run(procfile=inner.toy)
    run.result.assert_outcomes(passed=2)
    run.result.stdout.fnmatch_lines(
        ["*- hub summary -*", "3 processes booted, 0 restarts, 5 cross-process calls, p50 *"]
    )


BETWEEN_TESTS = """
import pytest


def test_calls_it_never_reads(proxy):
    counter = proxy("counter")
    for _ in range(3):
        counter.increment()
    proxy("caller").bump()  # test -> worker, worker -> background


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_async_calls_it_never_reads(proxy):
    await proxy("counter").increment()


def test_sees_only_its_own_calls(proxy, hub_app):
    proxy("counter").get_pid()
    calls = [f"{r.caller}:{r.object}.{r.method}" for r in hub_app.calls]
    assert calls == ["pytest:counter.get_pid"]
    hub_app.calls.assert_not_called("counter.increment")


def test_leaves_a_fault_behind(proxy, hub_app):
    # As if removing it at the end of the block had failed: the fault stays in the process.
    hub_app._add_fault("counter.increment", error=ValueError("left behind"))
    with pytest.raises(ValueError, match="left behind"):
        proxy("counter").increment()


def test_the_next_test_finds_no_fault(proxy):
    assert proxy("counter").increment() >= 1
"""


@pytest.mark.timeout(120)
def test_between_tests_earlier_calls_and_faults_are_left_behind(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """Calls that earlier tests made (and never read) are not in a later test's record, yet
    the summary counts each call once (9 here); a fault left in place is gone by the next
    test."""
    pytester.makepyfile(test_between=BETWEEN_TESTS)
    run = inner.run(procfile=inner.toy)
    assert run.outcomes == {
        "test_calls_it_never_reads": "passed",
        "test_async_calls_it_never_reads[asyncio]": "passed",
        "test_sees_only_its_own_calls": "passed",
        "test_leaves_a_fault_behind": "passed",
        "test_the_next_test_finds_no_fault": "passed",
    }
    run.result.stdout.fnmatch_lines(
        ["*- hub summary -*", "3 processes booted, 0 restarts, 9 cross-process calls, p50 *"]
    )
