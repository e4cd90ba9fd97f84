"""``--hub-trace=PATH``: every cross-process call of the session, as a Chrome trace.

Where the pieces come from: the calls are the session's call records (every app's, the test
process's own included, which the plugin pulls anyway for the summary), the tests are their
reports (from the start of setup to the end of teardown; ``failed`` if the test failed,
``error`` if its setup or teardown did). Nothing is asked of the processes for the trace.

Under pytest-xdist each worker sends its calls and tests to the controller with its other
output at the end of its session, and the controller writes one file: each worker's lanes
are named after it (``gw0 background.0``), as each worker runs its own copy of the app. A
worker that dies takes its part with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import hubcore
from hubcore.trace import Trace

__all__ = ("TRACE_KEY", "WORKER_OUTPUT", "TraceCollector", "trace_path")

WORKER_OUTPUT = "hub_trace"


def trace_path(config: pytest.Config) -> Path | None:
    """The file ``--hub-trace`` names, relative to where pytest was started.

    :raises pytest.UsageError: its folder does not exist.
    """
    value = config.getoption("hub_trace", None)
    if not value:
        return None
    path = Path(config.invocation_params.dir, value)
    if not path.parent.is_dir():
        raise pytest.UsageError(
            f"--hub-trace={value}: the folder {path.parent} does not exist; create it or "
            "give a path in an existing folder"
        )
    return path


@dataclass
class _Span:
    start: float
    stop: float
    outcome: str


@dataclass
class TraceCollector:
    """The test spans of this process, and (on an xdist controller) the workers' parts."""

    path: Path
    spans: dict[str, _Span] = field(default_factory=dict)
    parts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    written: Trace | None = None

    def add_report(self, report: pytest.TestReport) -> None:
        """Note a phase of a test: its span grows, its outcome worsens."""
        span = self.spans.get(report.nodeid)
        if span is None:
            span = self.spans[report.nodeid] = _Span(report.start, report.stop, "passed")
        span.start, span.stop = min(span.start, report.start), max(span.stop, report.stop)
        if report.failed:
            span.outcome = "failed" if report.when == "call" else "error"
        elif report.skipped and span.outcome == "passed":
            span.outcome = "skipped"

    def part(self, records: list[hubcore.CallRecord]) -> dict[str, Any]:
        """This process's calls and tests, in plain values."""
        return self._trace(records).part()

    def add_worker(self, worker: str, output: dict[str, Any]) -> None:
        """Keep a worker's part (from its ``workeroutput``), if it sent one."""
        part = output.get(WORKER_OUTPUT)
        if part is not None:
            self.parts.append((worker, part))

    def write(self, records: list[hubcore.CallRecord]) -> None:
        """Write the file: this process's calls and tests, and every worker's part."""
        trace = self._trace(records)
        for worker, part in sorted(self.parts, key=lambda p: p[0]):
            trace.add_part(part, group=worker)
        trace.write(self.path)
        self.written = trace

    def _trace(self, records: list[hubcore.CallRecord]) -> Trace:
        trace = Trace()
        trace.add_calls(records)
        for nodeid, span in self.spans.items():
            trace.add_test(nodeid, span.start, span.stop, span.outcome)
        return trace

    def summary(self) -> str | None:
        """The line the terminal summary gets, once the file is written."""
        trace = self.written
        if trace is None:
            return None
        dropped = f" (the {trace.dropped} oldest dropped)" if trace.dropped else ""
        return (
            f"hub trace: {len(trace)} cross-process calls{dropped} of {trace.tests} tests "
            f"written to {self.path} (open it in Perfetto or chrome://tracing, or: hubcore "
            f"trace view {self.path})"
        )


TRACE_KEY = pytest.StashKey[TraceCollector]()
