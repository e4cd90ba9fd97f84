"""Crashes during tests: unexpected ones fail the test with a report, expected ones (marker,
``hub_app.kill``, ``restart``) do not, and the next test finds the topology healthy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


CRASHES = """
import os
import signal
import time

import pytest

import hubcore

RUNNING = dict.fromkeys(["background.0", "worker.0", "worker.1"], "running")


def test_unexpected_crash(proxy):
    with pytest.raises(hubcore.ProcessCrashed):
        proxy("counter").crash()


def test_healthy_after_the_unexpected_crash(proxy, hub_app):
    assert {label: p["state"] for label, p in hub_app.processes.items()} == RUNNING
    assert proxy("counter").increment() == 1


@pytest.mark.hub_allow_crash("background")
def test_allowed_crash(proxy):
    with pytest.raises(hubcore.ProcessCrashed) as excinfo:
        proxy("counter").crash()
    assert (excinfo.value.process, excinfo.value.instance) == ("background", 0)
    assert proxy("counter").increment() == 1  # back within the test: waits for the restart


def test_healthy_after_the_allowed_crash(proxy, hub_app):
    assert {label: p["state"] for label, p in hub_app.processes.items()} == RUNNING
    assert proxy("counter").get_pid() == hub_app.processes["background.0"]["pid"]


def test_crash_the_test_never_saw(proxy, hub_app):
    os.kill(hub_app.processes["background.0"]["pid"], signal.SIGKILL)
    time.sleep(0.5)


def test_failing_test_shows_hub_output(proxy):
    proxy("counter").say("said during a failing test")
    pytest.fail("failing on purpose")


def test_passing_test_shows_no_hub_output(proxy):
    proxy("counter").say("said during a passing test")
"""


@pytest.mark.timeout(120)
def test_crashes_fail_the_test_unless_expected(pytester: pytest.Pytester, inner: Inner) -> None:
    """An unexpected crash fails a test that passed, names the process, how it died and its
    last output; ``hub_allow_crash`` accepts it; hub output is attached to failed tests only."""
    pytester.makepyfile(test_crashes=CRASHES)
    run = inner.run(procfile=inner.toy)
    result = run.result
    result.stdout.fnmatch_lines(
        [
            "*_ test_unexpected_crash _*",
            "hub process background.0 (pid *) died during the test: exit code 7",
            "  calls in flight to it (1):",
            "    caller    call             at the death  then",
            "    pytest.0  counter.crash()  *  crash after * s: ProcessCrashed(*",
            "  last output:",
            "    about to crash",
            "  (expected it? mark the test @pytest.mark.hub_allow_crash('background') *",
            "*- hub output: background.0 -*",
            "about to crash",
            "*_ test_crash_the_test_never_saw _*",
            "hub process background.0 (pid *) died during the test: killed by signal 9",
            "*_ test_failing_test_shows_hub_output _*",
            "*Failed: failing on purpose",
            "*- hub output: background.0 -*",
            "said during a failing test",
            "*- hub summary -*",
            "3 processes booted, 3 restarts, * cross-process calls*",
        ]
    )
    result.stdout.no_fnmatch_line("*said during a passing test*")
    assert run.outcomes == {
        "test_unexpected_crash": "failed",
        "test_healthy_after_the_unexpected_crash": "passed",
        "test_allowed_crash": "passed",
        "test_healthy_after_the_allowed_crash": "passed",
        "test_crash_the_test_never_saw": "failed",
        "test_failing_test_shows_hub_output": "failed",
        "test_passing_test_shows_no_hub_output": "passed",
    }
    result.assert_outcomes(passed=4, failed=3)


IN_FLIGHT = """
import os
import signal
import threading
import time

import psutil
import pytest


def test_call_of_a_service_in_flight_when_its_callee_is_killed(hub_app, proxy):
    pid = hub_app.processes["background.0"]["pid"]
    with hub_app.inject("counter.increment", delay=30):
        killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
        killer.start()
        try:
            proxy("caller", timeout=20).bump()  # worker -> background, killed meanwhile
        finally:
            killer.join()


def _call_in_the_background(call, *args):
    def run():
        try:
            call(*args)
        except Exception:
            pass  # the callee dies: the report shows the call

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_call_of_the_test_in_flight_when_the_test_fails(hub_app, proxy):
    before = len(hub_app.logs("background"))
    _call_in_the_background(proxy("counter", timeout=30).wait, 20)
    deadline = time.monotonic() + 10
    while "waiting" not in hub_app.logs("background")[before:]:
        assert time.monotonic() < deadline, "the call did not reach background"
        time.sleep(0.02)
    pid = hub_app.processes["background.0"]["pid"]
    os.kill(pid, signal.SIGKILL)
    _wait_dead(pid)  # the signal lands a moment later: the test must see the death
    pytest.fail("failing with a call in flight to a process just killed")


def _wait_dead(pid):
    deadline = time.monotonic() + 10
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        assert time.monotonic() < deadline, f"pid {pid} did not die"
        time.sleep(0.01)


def test_healthy_again(proxy):
    assert proxy("counter").increment() == 1
"""


@pytest.mark.timeout(120)
def test_a_report_names_the_calls_in_flight_to_a_process_that_died(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """A failing test whose callee died shows the calls that were in flight to it: the caller,
    the call with its arguments, how long it had run at the death and how it ended (or that
    it still waits), whether the caller is a service or the test itself."""
    pytester.makepyfile(test_in_flight=IN_FLIGHT)
    run = inner.run(procfile=inner.toy)
    run.result.stdout.fnmatch_lines(
        [
            "*_ test_call_of_a_service_in_flight_when_its_callee_is_killed _*",
            "*- hub crash: background.0 -*",
            "hub process background.0 (pid *) died during the test: killed by signal 9",
            "  calls in flight to it (1):",
            "    caller    call                 at the death  then",
            "    worker.?  counter.increment()  0.* s*crash after 0.* s: ProcessCrashed(*",
            "  (expected it? *",
            "*_ test_call_of_the_test_in_flight_when_the_test_fails _*",
            "*Failed: failing with a call in flight to a process just killed",
            "*- hub crash: background.0 -*",
            "hub process background.0 (pid *) died during the test: killed by signal 9",
            "  calls in flight to it (1):",
            "    caller*call*at the death*then",
            "    pytest.0  counter.wait(20)  0.* s*",
        ]
    )
    assert run.outcomes == {
        "test_call_of_a_service_in_flight_when_its_callee_is_killed": "failed",
        "test_call_of_the_test_in_flight_when_the_test_fails": "failed",
        "test_healthy_again": "passed",
    }


KILL = """
import signal

import pytest

RUNNING = dict.fromkeys(["background.0", "worker.0", "worker.1"], "running")


def test_kill_then_call_through_the_same_proxy(hub_app, proxy):
    counter = proxy("counter", timeout=10)
    before = counter.get_pid()
    hub_app.kill("background")
    assert counter.get_pid() != before


def test_healthy_after_kill(hub_app, proxy):
    assert {label: p["state"] for label, p in hub_app.processes.items()} == RUNNING
    assert proxy("counter").increment() == 1


def test_kill_wait_ready_then_call(hub_app, proxy):
    counter = proxy("counter", timeout=10)
    before = counter.get_pid()
    hub_app.kill("background")
    hub_app.wait_ready()
    assert counter.get_pid() != before


@pytest.mark.anyio
async def test_kill_then_call_in_an_async_test(hub_app, proxy):
    counter = proxy("counter", timeout=10)
    before = await counter.get_pid()
    await hub_app.kill("background")
    assert await counter.get_pid() != before


def test_restart_then_call_through_the_same_proxy(hub_app, proxy):
    counter = proxy("counter", timeout=10)
    before = counter.get_pid()
    hub_app.restart("background")
    assert counter.get_pid() == hub_app.processes["background.0"]["pid"] != before


def test_kill_takes_the_instance_second_and_the_signal_by_keyword(hub_app):
    before = {label: p["pid"] for label, p in hub_app.processes.items()}
    hub_app.kill("worker", 1, sig=signal.SIGKILL)
    hub_app.wait_ready()
    after = hub_app.processes
    assert after["worker.1"]["pid"] != before["worker.1"]
    assert after["worker.1"]["signal"] == signal.SIGKILL
    assert after["worker.0"]["pid"] == before["worker.0"]


def test_kill_refuses_a_signal_as_the_instance(hub_app):
    before = hub_app.processes["background.0"]["pid"]
    with pytest.raises(TypeError, match="pass the signal by keyword: kill[(]'background', sig="):
        hub_app.kill("background", signal.SIGTERM)
    assert hub_app.processes["background.0"]["pid"] == before


@pytest.mark.anyio
async def test_kill_refuses_a_signal_as_the_instance_in_an_async_test(hub_app):
    with pytest.raises(TypeError, match="pass the signal by keyword"):
        await hub_app.kill("background", signal.SIGTERM)
"""


@pytest.mark.timeout(120)
def test_kill_is_an_expected_crash_and_proxies_recover(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """After ``hub_app.kill`` (or ``restart``) returns, the next call through the same proxy
    waits for the new process and answers, with or without ``wait_ready``; the test passes.
    ``kill`` takes the instance second and the signal by keyword, and refuses a signal second."""
    inner.use_every_anyio_backend()
    pytester.makepyfile(test_kill=KILL)
    run = inner.run(procfile=inner.toy)
    assert run.outcomes == {
        "test_kill_then_call_through_the_same_proxy": "passed",
        "test_healthy_after_kill": "passed",
        "test_kill_wait_ready_then_call": "passed",
        "test_kill_then_call_in_an_async_test[asyncio]": "passed",
        "test_kill_then_call_in_an_async_test[uvloop]": "passed",
        "test_kill_then_call_in_an_async_test[trio]": "passed",
        "test_restart_then_call_through_the_same_proxy": "passed",
        "test_kill_takes_the_instance_second_and_the_signal_by_keyword": "passed",
        "test_kill_refuses_a_signal_as_the_instance": "passed",
        "test_kill_refuses_a_signal_as_the_instance_in_an_async_test[asyncio]": "passed",
        "test_kill_refuses_a_signal_as_the_instance_in_an_async_test[uvloop]": "passed",
        "test_kill_refuses_a_signal_as_the_instance_in_an_async_test[trio]": "passed",
    }
    run.result.assert_outcomes(passed=12)


CRASH_DETAILS = """
import time

import pytest

import hubcore


def test_kill(hub_app, proxy):
    before = proxy("counter").get_pid()
    hub_app.kill("background")
    deadline = time.monotonic() + 10
    while hub_app.processes["background.0"]["pid"] in (before, None):
        assert time.monotonic() < deadline, "background was not restarted"
        time.sleep(0.02)


@pytest.mark.hub_allow_crash("background")
def test_process_crashed_tells_this_death(proxy):
    counter = proxy("counter")
    pid = counter.get_pid()
    with pytest.raises(hubcore.ProcessCrashed) as excinfo:
        counter.crash()
    crashed = excinfo.value
    assert (crashed.pid, crashed.exit_code, crashed.signal) == (pid, 7, None), str(crashed)
"""


@pytest.mark.timeout(120)
def test_process_crashed_after_a_restart_tells_the_latest_death(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """A process killed once, then crashing with exit code 7: ProcessCrashed says exit code 7,
    not the SIGKILL of the process before it."""
    pytester.makepyfile(test_details=CRASH_DETAILS)
    run = inner.run(procfile=inner.toy)
    assert run.outcomes == {
        "test_kill": "passed",
        "test_process_crashed_tells_this_death": "passed",
    }
    run.result.assert_outcomes(passed=2)


BLAME = """
import os
import signal

import pytest


@pytest.mark.hub_allow_crash("background")
def test_allowed_crash_at_the_end(hub_app, proxy):
    proxy("counter").increment()
    os.kill(hub_app.processes["background.0"]["pid"], signal.SIGKILL)


def test_after_the_allowed_crash(proxy):
    assert proxy("counter").increment() == 1


def test_kill_at_the_end(hub_app, proxy):
    proxy("counter").increment()
    hub_app.kill("background")


def test_after_the_kill(proxy):
    assert proxy("counter").increment() == 1
"""


@pytest.mark.timeout(120)
def test_expected_crash_at_the_end_of_a_test_is_not_blamed_on_the_next(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """A process that dies as a test ends (hub_app.kill, or a crash the test allowed) is
    restarted before the next test starts, and that test does not fail for it."""
    pytester.makepyfile(test_blame=BLAME)
    run = inner.run(procfile=inner.toy)
    run.result.stdout.no_fnmatch_line("hub process background.0 (pid *) died during the test*")
    assert run.outcomes == {
        "test_allowed_crash_at_the_end": "passed",
        "test_after_the_allowed_crash": "passed",
        "test_kill_at_the_end": "passed",
        "test_after_the_kill": "passed",
    }
    run.result.assert_outcomes(passed=4)


DIES_BETWEEN = """
import contextlib
import os
import signal

import pytest


@pytest.fixture
def kill_background_after_the_test(hub_app):
    yield
    pid = hub_app.processes["background.0"]["pid"]
    os.kill(pid, signal.SIGKILL)
    # Dead, but not collected: the supervisor may not know yet when the next test begins.
    with contextlib.suppress(ChildProcessError):  # unless it has collected it already
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def test_background_dies_after_the_report(kill_background_after_the_test, proxy):
    assert proxy("counter").increment() >= 1


def test_the_next_test_starts_on_the_new_process(proxy, hub_app):
    assert proxy("counter").get_pid() == hub_app.processes["background.0"]["pid"]
"""


@pytest.mark.timeout(120)
def test_death_between_tests_is_healed_before_the_next(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """A process that died after a test's report (in a fixture's teardown) is restarted
    before the next test starts, even if the supervisor has not noticed the death yet, and the
    next test does not fail for it."""
    pytester.makepyfile(test_between=DIES_BETWEEN)
    run = inner.run(procfile=inner.toy)
    run.result.stdout.no_fnmatch_line("hub process background.0 (pid *) died during the test*")
    assert run.outcomes == {
        "test_background_dies_after_the_report": "passed",
        "test_the_next_test_starts_on_the_new_process": "passed",
    }
    run.result.stdout.fnmatch_lines(["*- hub summary -*", "3 processes booted, 1 restarts, *"])
