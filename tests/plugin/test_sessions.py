"""Whole sessions: one app per xdist worker, and nothing left behind when a session ends."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


PER_WORKER = """
import json
import os

import pytest


@pytest.mark.parametrize("n", range(4))
def test_each_worker_has_its_own_app(hub_app, proxy, n):
    seen = {{
        "worker": os.environ["PYTEST_XDIST_WORKER"],
        "rundir": str(hub_app.rundir),
        "port": hub_app.config("hog")["port"],
        "counter pid": proxy("counter").get_pid(),
    }}
    with open({seen!r}, "a") as out:
        out.write(json.dumps(seen) + "\\n")
"""


@pytest.mark.timeout(120)
def test_xdist_workers_boot_their_own_app(pytester: pytest.Pytester, inner: Inner) -> None:
    """Under ``-n 2`` each worker boots the app once, in its own run directory with its own
    free ports, and the controller prints one summary for both."""
    seen_file = pytester.path / "seen.jsonl"
    pytester.makepyfile(test_workers=PER_WORKER.format(seen=str(seen_file)))
    run = inner.run("-n", "2", procfile=inner.basic)
    run.result.assert_outcomes(passed=4)
    run.result.stdout.fnmatch_lines(
        ["*- hub summary -*", "8 processes booted, 0 restarts, * cross-process calls*"]
    )
    seen = [json.loads(line) for line in seen_file.read_text().splitlines()]
    apps: dict[str, set[tuple[str, int, int]]] = {}
    for s in seen:
        apps.setdefault(s["worker"], set()).add((s["rundir"], s["port"], s["counter pid"]))
    assert sorted(apps) == ["gw0", "gw1"]
    assert all(len(app) == 1 for app in apps.values()), apps  # booted once per worker
    (first,), (second,) = apps.values()
    assert all(a != b for a, b in zip(first, second, strict=True)), apps  # rundir, port, pid


@pytest.mark.timeout(120)
def test_session_removes_its_run_directories(pytester: pytest.Pytester, inner: Inner) -> None:
    """The private run directory the plugin made for an app is gone after the session."""
    pytester.makepyfile(test_one="def test_one(proxy):\n    proxy('caller').bump()\n")
    run = inner.run(procfile=inner.toy)
    run.result.assert_outcomes(passed=1)
    left = sorted(str(p.relative_to(run.tmpdir)) for p in run.tmpdir.rglob("*"))
    assert left == [], f"left in the session's TMPDIR: {left}"


BAD_PROCFILE = """
def procfile(app):
    app.service("store", "bad:Store").publish()
    app.service("settings", "bad:BadSettings").depends_on("store")
"""

BAD_SERVICES = """
class Store:
    def __init__(self, ctx):
        self.ctx = ctx


class BadSettings:
    def __init__(self, ctx):
        self.ctx = ctx

    async def start(self):
        with open(__file__ + ".starts", "a") as starts:  # one line per boot tried
            starts.write("start\\n")
        raise ValueError("bad settings: level must be quiet or normal")
"""

BOOT_FAILS = """
def test_first(hub_app):
    pass


def test_second(proxy):
    pass


def test_without_the_app():
    pass
"""


@pytest.mark.timeout(120)
def test_boot_failure_reports_the_service_traceback(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """A service whose start() raises fails the tests that need the app with BootFailed and
    that traceback, in every such test, and stops what it started. The boot is tried once:
    the later tests get the same error at once, and no run directory is left."""
    procfile = pytester.makepyfile(procfile=BAD_PROCFILE, bad=BAD_SERVICES, test_boot=BOOT_FAILS)
    run = inner.run(procfile=procfile.parent / "procfile.py")
    result = run.result
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_first _*",
            "*BootFailed*",
            "*ValueError: bad settings: level must be quiet or normal*",
            "*_ ERROR at setup of test_second _*",
            "*BootFailed*",
            "*ValueError: bad settings: level must be quiet or normal*",
        ]
    )
    result.stdout.no_fnmatch_line("*This portal is not running*")
    result.stdout.no_fnmatch_line("*cancel scope*")
    assert run.outcomes == {
        "test_first": "error",
        "test_second": "error",
        "test_without_the_app": "passed",
    }
    result.assert_outcomes(passed=1, errors=2)
    starts = (procfile.parent / "bad.py.starts").read_text().splitlines()
    assert starts == ["start"], f"the boot was tried {len(starts)} times"
    left = sorted(str(p.relative_to(run.tmpdir)) for p in run.tmpdir.rglob("*"))
    assert left == [], f"left in the session's TMPDIR: {left}"
