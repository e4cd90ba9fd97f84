"""A picture of the cross-process calls of a test session or a run.

:class:`Trace` turns call records (:class:`hubcore.CallRecord`) into Chrome trace-event JSON,
which Perfetto (https://ui.perfetto.dev) and chrome://tracing open: one lane per process,
a slice per call on each side, an arrow from caller to callee, nested calls inside the call
they were made for. :func:`write_html` turns such a file into one self-contained HTML page
that draws it, offline::

    trace = hubcore.trace.Trace()
    trace.add_calls(await app.drain_calls())        # an App(trace=True)
    trace.write("trace.json")
    hubcore.trace.write_html("trace.json", "trace.html")

``pytest --hub-trace=trace.json`` and ``hubcore dev --trace trace.json`` write such files;
``hubcore trace view trace.json`` writes the page.
"""

from __future__ import annotations

from hubcore.trace._events import Trace
from hubcore.trace._viewer import render_html, write_html

__all__ = ("Trace", "render_html", "write_html")
