"""The report of a test whose call timed out says where the callee was stuck: the remote
stack that came back with the timeout, its innermost frame of user code first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


STUCK = """
import pytest

import hubcore


def test_sync_call_times_out(proxy):
    hubcore.sync.call(proxy("counter"), "wait", (30,), timeout=0.5)


@pytest.mark.anyio
async def test_async_call_times_out(proxy):
    await hubcore.call(proxy("counter"), "wait", (30,), timeout=0.5)


def test_timeout_caught_by_the_test_adds_nothing(proxy):
    with pytest.raises(hubcore.CallTimeout):
        hubcore.sync.call(proxy("counter"), "wait", (30,), timeout=0.5)
    assert False, "failed for another reason"
"""


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.timeout(120)
def test_report_says_where_a_timed_out_callee_was_waiting(
    pytester: pytest.Pytester, inner: Inner, toy_copy: Path
) -> None:
    inner.use_every_anyio_backend()
    pytester.makepyfile(test_stuck=STUCK)
    run = inner.run(procfile=toy_copy)
    line = _line_of(pytester.path / "services" / "toy.py", "await anyio.sleep(seconds)")
    where = (
        f"counter.wait was waiting at services/toy.py:{line} in wait: `await anyio.sleep(seconds)`"
    )
    stack_lines = [
        "*- hub remote stack: counter.wait -*",
        where,
        "remote stack (innermost last):",
        f"  services/toy.py:{line} in wait: `await anyio.sleep(seconds)`",
        "  */anyio/*sleep*",
    ]
    for name in ("test_sync_call_times_out", "test_async_call_times_out?trio?"):
        run.result.stdout.fnmatch_lines([f"*_ {name} _*", *stack_lines])
    output = run.result.stdout.str()
    assert output.count(where) == 4  # the sync test and the async one on three loops
    assert run.outcomes == {
        "test_sync_call_times_out": "failed",
        "test_async_call_times_out[asyncio]": "failed",
        "test_async_call_times_out[uvloop]": "failed",
        "test_async_call_times_out[trio]": "failed",
        "test_timeout_caught_by_the_test_adds_nothing": "failed",
    }


HELD = """
import pytest

import hubcore


def _free(proxy):
    # The counter's loop is free again once the hold of the test before has ended.
    hubcore.sync.call(proxy("counter"), "get_pid", timeout=20)


def test_sync_call_times_out(proxy):
    _free(proxy)
    hubcore.sync.call(proxy("counter"), "hold", (2,), timeout=0.5)


@pytest.mark.anyio
async def test_async_call_times_out(proxy):
    await hubcore.call(proxy("counter"), "get_pid", timeout=20)  # free again
    await hubcore.call(proxy("counter"), "hold", (2,), timeout=0.5)


def test_chain_times_out(proxy):
    _free(proxy)
    hubcore.sync.call(proxy("caller"), "relay_hold", (2,), timeout=1)
"""


@pytest.mark.timeout(120)
def test_report_says_where_a_plain_method_held_its_event_loop(
    pytester: pytest.Pytester, inner: Inner, toy_copy: Path
) -> None:
    """A plain method that holds the callee's loop cannot read the caller's CANCEL: the
    callee's watchdog answers for it, and the report says so, the method's line first."""
    inner.use_every_anyio_backend()
    pytester.makepyfile(test_held=HELD)
    run = inner.run(procfile=toy_copy)
    line = _line_of(pytester.path / "services" / "toy.py", "time.sleep(seconds)")
    where = (
        "counter.hold was still running, holding its process's event loop, at "
        f"services/toy.py:{line} in hold: `time.sleep(seconds)`"
    )
    for name in ("test_sync_call_times_out", "test_async_call_times_out?uvloop?"):
        run.result.stdout.fnmatch_lines(
            [
                f"*_ {name} _*",
                "E  *CallTimeout: counter.hold did not answer within 0.5s: it is still running,"
                " a plain method holding its process's event loop, which cannot be cancelled*",
                "*- hub remote stack: counter.hold -*",
                where,
                "remote stack (innermost last):",
                f"  services/toy.py:{line} in hold: `time.sleep(seconds)`",
            ]
        )
    run.result.stdout.fnmatch_lines(
        [
            "*_ test_chain_times_out _*",
            "*caller.relay_hold → counter.hold did not answer within*still running*",
            where,
        ]
    )
    output = run.result.stdout.str()
    assert output.count(where) == 5  # sync, async on three loops, the chain
    # The callee's own output says it held its loop, in the report's output section.
    assert "counter.hold holds the event loop past its caller's deadline (0.5s), at " in output
    assert set(run.outcomes.values()) == {"failed"}
    assert len(run.outcomes) == 5
