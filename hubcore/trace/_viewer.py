"""A trace as one HTML page that draws it: lanes, slices and arrows, with no network.

The page is ``viewer.html`` (its CSS and JavaScript inline) with the trace's JSON in a
``<script type="application/json">`` element. It reads any Chrome trace-event JSON (complete
``X`` and ``B``/``E`` slices, ``s``/``f`` flows, process and thread names), not only
hubcore's.
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ("load_trace", "render_html", "write_html")

TEMPLATE = "viewer.html"


def load_trace(path: str | os.PathLike[str]) -> dict[str, Any] | list[Any]:
    """Read a Chrome trace-event JSON file: an object with ``traceEvents``, or a list.

    :raises ValueError: the file is not JSON, or not a trace; the message says which.
    :raises OSError: it cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path} is not JSON ({exc}): give a trace written by --hub-trace, "
            "hubcore dev --trace or another Chrome trace-event tool"
        ) from None
    events = data.get("traceEvents") if isinstance(data, dict) else data
    if not isinstance(events, list):
        raise ValueError(
            f"{path} is not a trace: expected a JSON object with a traceEvents list (the Chrome "
            "trace-event format), or a list of events"
        )
    return data  # type: ignore[no-any-return]


def render_html(trace: dict[str, Any] | list[Any], *, title: str = "hubcore trace") -> str:
    """One self-contained HTML page that draws ``trace`` (a Chrome trace-event object)."""
    template = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    # "<" only occurs inside JSON strings, where \u003c is the same character: nothing in
    # the data can close the script element or open a comment in it.
    data = json.dumps(trace, separators=(",", ":")).replace("<", "\\u003c")
    page = template.replace("{{TITLE}}", html.escape(title))
    return page.replace("{{DATA}}", data)


def write_html(source: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Write the page of the trace file ``source`` to ``out`` (default: beside it, ``.html``).

    :raises ValueError: ``source`` is not a trace (see :func:`load_trace`).
    :return: the path written.
    """
    target = Path(out) if out is not None else Path(source).with_suffix(".html")
    page = render_html(load_trace(source), title=Path(source).name)
    target.write_text(page, encoding="utf-8")
    return target
