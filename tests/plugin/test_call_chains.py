"""Chains of calls through three real processes: the test calls ``caller`` (a ``worker``),
which calls ``counter`` (``background``) while serving it. The record links each nested call
to the call it was made for, and one deadline, the test's, bounds the chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


CHAINS = """
import time

import pytest

import hubcore


def _nested_under(table, top, nested):
    rows = table.splitlines()
    at = next(i for i, row in enumerate(rows) if top in row)
    assert "\\\\_ " + nested in rows[at + 1], table


def test_sync_chain_in_the_record(proxy, hub_app):
    proxy("caller").bump()
    top = hub_app.calls.assert_called_once("caller.bump")
    nested = hub_app.calls.assert_called_once("counter.increment", via="caller.bump")
    assert (top.caller, nested.caller) == ("pytest", "worker")
    assert nested.parent == top.call_id != ""
    assert top.parent == ""
    hub_app.calls.assert_not_called("counter.increment", via="counter.increment")
    _nested_under(hub_app.calls.table(), "caller.bump()", "counter.increment()")


@pytest.mark.anyio
async def test_async_chain_in_the_record(proxy, hub_app):
    await proxy("caller").bump()
    top = hub_app.calls.assert_called_once("caller.bump")
    nested = hub_app.calls.assert_called_once("counter.increment", via="caller.bump")
    assert nested.parent == top.call_id != ""
    _nested_under(hub_app.calls.table(), "caller.bump()", "counter.increment()")


def test_chain_deadline_names_the_hop(proxy, hub_app):
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        hubcore.sync.call(proxy("caller"), "relay_wait", (30,), timeout=2)
    assert time.monotonic() - started < 5
    assert "caller.relay_wait → counter.wait did not answer within 1." in str(caught.value)
    assert " s left of 2 s" in str(caught.value)
    nested = hub_app.calls.assert_called_once("counter.wait", via="caller.relay_wait")
    assert nested.outcome == "timeout"


def test_chain_timeout_in_a_failing_report(proxy):
    hubcore.sync.call(proxy("caller"), "relay_wait", (30,), timeout=2)


def test_chain_in_a_failing_report(proxy, hub_app):
    proxy("caller").bump()
    hub_app.calls.assert_called_once("counter.get_pid", via="caller.bump")
"""


@pytest.mark.timeout(120)
def test_call_chains_through_three_processes(pytester: pytest.Pytester, inner: Inner) -> None:
    """Nested calls carry their parent's id (``via=``, the table) and the test's deadline
    (the error names the hop that ran out), on asyncio, uvloop and trio."""
    inner.use_every_anyio_backend()
    pytester.makepyfile(test_chains=CHAINS)
    run = inner.run(procfile=inner.toy)
    run.result.stdout.fnmatch_lines(
        [
            "*_ test_chain_in_a_failing_report _*",
            "E * AssertionError: expected one call of counter.get_pid via caller.bump, saw 0",
            "E *pytest.0 * worker.? * caller.bump() * result: *",
            "E *worker.? * background.0 * \\_ counter.increment() * result: *",
        ]
    )
    run.result.stdout.fnmatch_lines(
        [
            "*_ test_chain_timeout_in_a_failing_report _*",
            "E * CallTimeout in worker.?: caller.relay_wait → counter.wait did not answer *",
            "*- hub remote stack: counter.wait -*",
            "counter.wait was waiting at */services/toy.py:* in wait: `await anyio.sleep(seconds)`",
        ]
    )
    assert run.outcomes == {
        "test_sync_chain_in_the_record": "passed",
        "test_async_chain_in_the_record[asyncio]": "passed",
        "test_async_chain_in_the_record[uvloop]": "passed",
        "test_async_chain_in_the_record[trio]": "passed",
        "test_chain_deadline_names_the_hop": "passed",
        "test_chain_timeout_in_a_failing_report": "failed",
        "test_chain_in_a_failing_report": "failed",
    }
