"""``hub_replace``: a test double runs inside the real process in place of a service."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


FAKES = """
import os


class FakeCounter:
    \"\"\"Stands in for services.toy:Counter.\"\"\"

    def __init__(self, ctx):
        self.ctx = ctx

    def increment(self, by=1):
        return 42

    def get_pid(self):
        return os.getpid()
"""

REPLACE = """
import os

import pytest

SEEN = {}


@pytest.mark.hub_replace("counter", "fakes:FakeCounter")
def test_fake_runs_in_the_real_process(proxy, hub_app):
    counter = proxy("counter")
    assert counter.increment() == 42
    assert counter.get_pid() != os.getpid()
    assert counter.get_pid() == hub_app.processes["background.0"]["pid"]
    assert proxy("caller").bump()["count"] == 42  # the other processes call the fake too
    SEEN["fake app"] = hub_app.rundir


@pytest.mark.hub_replace("counter", "fakes:FakeCounter")
def test_same_replacement_shares_the_app(proxy, hub_app):
    assert hub_app.rundir == SEEN["fake app"]
    assert proxy("counter").increment() == 42


def test_without_the_marker_the_real_service_runs(proxy, hub_app):
    assert hub_app.rundir != SEEN["fake app"]
    assert proxy("counter").increment() == 1


@pytest.mark.hub_replace("nope", "fakes:FakeCounter")
def test_replacing_an_unknown_service(hub_app):
    pass
"""


@pytest.mark.timeout(120)
def test_hub_replace_runs_the_double_in_the_real_process(
    pytester: pytest.Pytester, inner: Inner, toy_copy: Path
) -> None:
    """The fake module sits beside the procfile (service imports resolve from there); the
    procfile comes from the ``hub_procfile`` ini option, relative to the rootdir."""
    pytester.makeini(f"[pytest]\nhub_procfile = {toy_copy.name}\n")
    pytester.makepyfile(fakes=FAKES, test_replace=REPLACE)
    run = inner.run(procfile=None)
    run.result.stdout.fnmatch_lines(
        [
            f"hub: procfile {toy_copy}, call timeout 10s",
            "*HubError: cannot replace nope: no such service in *procfile.py*",
            "*- hub summary -*",
            "6 processes booted, 0 restarts, * cross-process calls*",
        ]
    )
    assert run.outcomes == {
        "test_fake_runs_in_the_real_process": "passed",
        "test_same_replacement_shares_the_app": "passed",
        "test_without_the_marker_the_real_service_runs": "passed",
        "test_replacing_an_unknown_service": "error",
    }
    run.result.assert_outcomes(passed=3, errors=1)
