"""pytest11 entry point of pytest_hub: options, markers, report sections and the summary.

Hooks only; the fixtures live in :mod:`pytest_hub._fixtures`.
"""

from __future__ import annotations

import statistics
from collections.abc import Generator
from typing import Any

import psutil
import pytest

import hubcore
from pytest_hub import _fixtures, _report, _settings
from pytest_hub._fixtures import (
    SESSION_KEY,
    hub_app,
    hub_app_factory,
    proxy,
)
from pytest_hub._trace import TRACE_KEY, WORKER_OUTPUT, TraceCollector, trace_path

__all__ = ("hub_app", "hub_app_factory", "proxy")

# pytest finds a plugin's fixtures among its module's attributes: the private ones that serve
# the public ones must be attributes too.
_hub_async_client = _fixtures._hub_async_client
_hub_handle = _fixtures._hub_handle

# pytest splits each line at its first colon (name and signature, then description), so a
# colon may appear only in the description: hub_replace's "module:Class" is shown there.
MARKERS = (
    "hub_timeout(seconds): default call timeout of the `proxy` fixture in this test.",
    "hub_allow_crash(*processes): these hub processes may die during this test.",
    "hub_procfile(path): boot this procfile (relative to the test file) for `hub_app`.",
    'hub_replace(service, double): run the test double `double` ("module:Class") in place'
    " of a service.",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hub", "hubcore topologies (pytest_hub)")
    group.addoption(
        "--hub-procfile",
        dest="hub_procfile",
        metavar="PATH",
        help="procfile of the topology the hub_app fixture boots.",
    )
    group.addoption(
        "--hub-call-timeout",
        dest="hub_call_timeout",
        metavar="S",
        help=f"default timeout of proxy calls (default {_settings.DEFAULT_CALL_TIMEOUT:g} s).",
    )
    group.addoption(
        "--hub-boot-timeout",
        dest="hub_boot_timeout",
        metavar="S",
        help=f"how long a topology may boot (default {_settings.DEFAULT_BOOT_TIMEOUT:g} s).",
    )
    group.addoption(
        "--hub-trace",
        dest="hub_trace",
        metavar="PATH",
        help="write every cross-process call of the session to PATH as Chrome trace-event "
        "JSON (Perfetto, chrome://tracing, or `hubcore trace view PATH`).",
    )
    parser.addini("hub_procfile", "procfile of the hub_app topology (relative to the rootdir)")
    parser.addini("hub_call_timeout", "default timeout of proxy calls, in seconds")
    parser.addini("hub_boot_timeout", "how long a topology may take to boot, in seconds")


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    _settings.Settings.from_config(config)  # fail early on bad values
    path = trace_path(config)
    if path is not None:
        config.stash[TRACE_KEY] = TraceCollector(path)


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = _settings.Settings.from_config(config)
    if settings.procfile is None:
        return None
    return f"hub: procfile {settings.procfile}, call timeout {settings.call_timeout:g}s"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    if _report.uses_hub(item):
        _report.hide_hub_frames(item)  # before pytest renders the failure
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed:
        _report.point_at_test(item, call, report)
    _report.add_hub_sections(item, report, call.excinfo)
    collector = item.config.stash.get(TRACE_KEY, None)
    if collector is not None:
        collector.add_report(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    records = _close_apps(session)
    collector = session.config.stash.get(TRACE_KEY, None)
    if collector is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller writes the file
        workeroutput[WORKER_OUTPUT] = collector.part(records)
    else:
        collector.write(records)


def _close_apps(session: pytest.Session) -> list[hubcore.CallRecord]:
    """Stop every app, note the session's figures; return every call of the session."""
    hub = session.config.stash.get(SESSION_KEY, None)
    if hub is None:
        return []
    handles = [*hub.apps.values(), *hub.closed]
    hub.close()  # each app keeps its last calls for the totals
    records = [r for h in handles for r in h.all_calls]
    stats = {
        "processes": sum(len(h.processes) for h in handles),
        "restarts": sum(p["restarts"] for h in handles for p in h.processes.values()),
        "calls": len(records),
        "durations": [r.duration for r in records],
        "left": _leftovers(),
    }
    session.config.stash[_STATS_KEY] = stats
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["hub_stats"] = stats
    if stats["left"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return records


_STATS_KEY = pytest.StashKey[dict[str, Any]]()
_WORKER_STATS = pytest.StashKey[list[dict[str, Any]]]()


def _leftovers() -> list[str]:
    left = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "hubcore.worker" in " ".join(proc.cmdline()):
                left.append(f"pid {proc.pid}: {' '.join(proc.cmdline())[:80]}")
        except psutil.Error:
            continue
    return left


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    output = getattr(node, "workeroutput", {})
    stats = output.get("hub_stats")
    if stats is not None:
        node.config.stash.setdefault(_WORKER_STATS, []).append(stats)
    collector = node.config.stash.get(TRACE_KEY, None)
    if collector is not None:
        collector.add_worker(str(node.workerinput["workerid"]), output)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    collector = config.stash.get(TRACE_KEY, None)
    written = collector.summary() if collector is not None else None
    if written is not None:
        terminalreporter.write_sep("-", "hub trace")
        terminalreporter.write_line(written)
    worker_stats: list[dict[str, Any]] = config.stash.get(_WORKER_STATS, [])
    parts = list(worker_stats)
    own = config.stash.get(_STATS_KEY, None)
    if own is not None and own["processes"]:
        parts.append(own)
    if not parts:
        return
    durations = sorted(d for p in parts for d in p["durations"])
    line = (
        f"{sum(p['processes'] for p in parts)} processes booted, "
        f"{sum(p['restarts'] for p in parts)} restarts, {len(durations)} cross-process calls"
    )
    if durations:
        p50 = statistics.median(durations) * 1000
        p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))] * 1000
        line += f", p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    terminalreporter.write_sep("-", "hub summary")
    terminalreporter.write_line(line)
    for part in parts:
        for left in part["left"]:
            terminalreporter.write_line(f"LEFT RUNNING after the session: {left}", red=True)
