"""What the plugin adds to pytest's command line, help texts and usage errors, and the other
ways to name a procfile (marker, ``hub_app_factory``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


@pytest.mark.timeout(120)
def test_help_lists_options_markers_and_fixtures(pytester: pytest.Pytester, inner: Inner) -> None:
    """``--help``, ``--markers`` and ``--fixtures`` show what the pytest11 entry point adds."""
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    inner.run("--help", procfile=None).result.stdout.fnmatch_lines(
        [
            "hubcore topologies (pytest_hub):",
            "  --hub-procfile=PATH *procfile of the topology the hub_app fixture boots.",
            "  --hub-call-timeout=S *default timeout of proxy calls (default 10 s).",
            "  --hub-boot-timeout=S *how long a topology may boot (default 60 s).",
            "*hub_procfile (string):*",
            "*hub_call_timeout (string):*",
            "*hub_boot_timeout (string):*",
        ]
    )
    markers = inner.run("--markers", procfile=None).result
    markers.stdout.fnmatch_lines(
        [
            "@pytest.mark.hub_timeout(seconds): default call timeout of the `proxy` fixture*",
            "@pytest.mark.hub_allow_crash(*processes): these hub processes may die*",
            "@pytest.mark.hub_procfile(path): boot this procfile (relative to the test file)*",
            "@pytest.mark.hub_replace(service, double): run the test double `double`"
            ' ("module:Class") in place of a service.',
        ]
    )
    # pytest cuts a registration line at its first colon: none may come before the description.
    assert "module: Class" not in markers.stdout.str()
    result = inner.run("--fixtures", procfile=None).result
    result.stdout.fnmatch_lines(
        [
            "proxy -- *pytest_hub*_fixtures.py:*",
            "    ``proxy(name, timeout=None, instance=None)``: awaitable methods in an async test,",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "hub_app -- *pytest_hub*_fixtures.py:*",
            "    The procfile topology, booted once per session (per xdist worker)*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "hub_app_factory -- *pytest_hub*_fixtures.py:*",
            "    Boot another topology for this test: ``hub_app_factory(procfile, replace=*",
        ]
    )


NEEDS_APP = """
def test_uses_hub_app(hub_app):
    pass


def test_uses_proxy(proxy):
    pass


def test_plain():
    pass
"""


@pytest.mark.timeout(120)
def test_missing_or_absent_procfile_is_a_usage_error(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """A procfile that is not there, or none at all, fails the tests that need the app with a
    message that says what to do; tests without the app still run."""
    pytester.makepyfile(test_needs_app=NEEDS_APP)
    missing = pytester.path / "missing" / "procfile.py"
    run = inner.run(procfile=missing)
    run.result.stdout.fnmatch_lines([f"*UsageError: hub procfile not found: {missing}"])
    assert run.outcomes == {
        "test_uses_hub_app": "error",
        "test_uses_proxy": "error",
        "test_plain": "passed",
    }
    run.result.assert_outcomes(passed=1, errors=2)

    run = inner.run(procfile=None)
    run.result.stdout.fnmatch_lines(
        ["*UsageError: hub_app needs a procfile: pass --hub-procfile PATH, set hub_procfile*"]
    )
    run.result.assert_outcomes(passed=1, errors=2)


@pytest.mark.timeout(120)
def test_bad_timeouts_are_usage_errors_naming_their_source(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = inner.run("--hub-call-timeout=soon", procfile=None).result
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --hub-call-timeout: expected seconds, got 'soon'"])

    pytester.makeini("[pytest]\nhub_boot_timeout = -1\n")
    result = inner.run(procfile=None).result
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: ini option hub_boot_timeout: expected a positive number of seconds, got '-1'"]
    )


PROCFILE_SOURCES = """
import psutil
import pytest

FACTORY_PIDS = []


@pytest.mark.hub_procfile("procfile.py")
def test_marker_names_the_procfile(proxy, hub_app):
    assert proxy("caller").bump()["count"] == 1
    assert sorted(hub_app.processes) == ["background.0", "worker.0", "worker.1"]


def test_factory_boots_another_app(hub_app_factory):
    app = hub_app_factory("procfile.py")
    assert app.sync_client().get_proxy("counter").increment() == 1  # a fresh app
    FACTORY_PIDS.extend(p["pid"] for p in app.processes.values())


def test_factory_app_stopped_after_its_test():
    assert len(FACTORY_PIDS) == 3
    assert not [pid for pid in FACTORY_PIDS if psutil.pid_exists(pid)]
"""


@pytest.mark.timeout(120)
def test_marker_and_factory_boot_a_procfile_next_to_the_test(
    pytester: pytest.Pytester, inner: Inner, toy_copy: Path
) -> None:
    """``hub_procfile("procfile.py")`` and ``hub_app_factory("procfile.py")`` resolve from the
    test file's folder, with no ``--hub-procfile`` at all."""
    pytester.makepyfile(test_sources=PROCFILE_SOURCES)
    run = inner.run(procfile=None)
    assert run.outcomes == {
        "test_marker_names_the_procfile": "passed",
        "test_factory_boots_another_app": "passed",
        "test_factory_app_stopped_after_its_test": "passed",
    }
    run.result.assert_outcomes(passed=3)
