"""What the report of a failing test shows: the test's own line right above the error.

A call through a proxy passes through hubcore, and a blocking one through anyio's portal
thread, ``concurrent.futures`` and an event loop as well, before it raises. pytest would show
all of those frames, with their locals, above the one line the reader needs: the test's call.
So, in the reports of tests that use the plugin's fixtures, these frames are hidden:

- every frame of hubcore and of this plugin;
- the frames of libraries (the standard library, site-packages) next to them: those hubcore
  called on the way to the raise, and those between the test and hubcore (``contextlib`` for
  a ``with``). A frame of user code that hubcore calls back (a predicate given to
  ``hub_app.calls``) stays, and so does a library the test calls that raises by itself.

How: pytest asks each test item for ``_traceback_filter(excinfo)`` (it cuts pytest's own frames
and honours ``__tracebackhide__``), for the test's error and each exception chained to it. The
plugin wraps that filter of the items it serves (:func:`hide_hub_frames`), so every style that
pytest filters (``auto``, ``long``, ``short``, ``line``) gets it, and ``--fulltrace``, which
turns pytest's filter off, shows everything again. ``--tb=native`` prints Python's own
traceback, which pytest never filters (its own frames included): the plugin leaves it so.
:func:`point_at_test` makes the report's crash location (``--tb=line``, ``path:line: error``)
the last line shown rather than the raise inside hubcore.

This is the place for everything the plugin adds to a failing test's report
(:func:`add_hub_sections`): a section per process that died during the test (how it died,
the calls that were in flight to it, its last output), then the output of every process
during the test. A test that passed but saw a process die unexpectedly fails, with the
death as its error.
"""

from __future__ import annotations

import enum
import functools
import os
import site
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import hubcore
from pytest_hub._crash import describe, in_flight_to
from pytest_hub._fixtures import HUB_APP_KEY

if TYPE_CHECKING:
    from _pytest._code.code import Traceback, TracebackEntry

__all__ = (
    "Frame",
    "add_hub_sections",
    "hidden",
    "hide_hub_frames",
    "point_at_test",
    "uses_hub",
)

#: The fixtures whose tests get short reports (``hub_app`` and ``proxy`` both need
#: ``_hub_handle``, so a test that uses either has it among its fixtures).
HUB_FIXTURES = frozenset({"_hub_handle", "hub_app_factory"})

_FILTER = "_traceback_filter"  # the item method pytest filters tracebacks with
_WRAPPED = "_pytest_hub_wrapped"  # set on the wrapper, so it is installed once


class Frame(enum.Enum):
    """Where the code of a traceback entry lives."""

    HUB = "hub"  #: hubcore or pytest_hub
    LIBRARY = "library"  #: the standard library or an installed package
    USER = "user"  #: anything else: the tests and the code under test


def uses_hub(item: pytest.Item) -> bool:
    """Whether ``item`` uses the plugin: one of its fixtures, or an app set up for it (as by
    ``request.getfixturevalue("hub_app")``)."""
    return bool(HUB_FIXTURES & set(getattr(item, "fixturenames", ()))) or HUB_APP_KEY in item.stash


def hide_hub_frames(item: pytest.Item) -> None:
    """Make ``item``'s reports hide hubcore's frames (see the module's docstring). Idempotent;
    an item without pytest's traceback filter is left alone."""
    original = getattr(item, _FILTER, None)
    if original is None or getattr(original, _WRAPPED, False):
        return
    auto = item.config.getoption("tbstyle", "auto") == "auto"

    def traceback_filter(excinfo: pytest.ExceptionInfo[BaseException]) -> Traceback:
        shown: Traceback = original(excinfo)
        hide = hidden([_kind(entry.path) for entry in shown])
        if not any(hide):
            return shown
        entries = [entry for entry, hidden_ in zip(shown, hide, strict=True) if not hidden_]
        return type(shown)(_restyle(entries) if auto else entries)

    setattr(traceback_filter, _WRAPPED, True)
    setattr(item, _FILTER, traceback_filter)


def _restyle(entries: list[TracebackEntry]) -> list[TracebackEntry]:
    """pytest's ``auto`` style, again for the entries left: the first and the last long."""
    last = len(entries) - 1
    return [e.with_repr_style("long" if i in (0, last) else "short") for i, e in enumerate(entries)]


def point_at_test(
    item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
) -> None:
    """Make the report's crash location (``path:line: error``, what ``--tb=line`` prints) the
    last line its traceback shows, rather than the raise inside hubcore."""
    crash = getattr(report.longrepr, "reprcrash", None)
    filter_ = getattr(item, _FILTER, None)
    if crash is None or call.excinfo is None or filter_ is None:
        return
    if not getattr(filter_, _WRAPPED, False) or item.config.getoption("fulltrace", False):
        return  # not a test of the plugin's, or pytest's filter is off: so is ours
    shown = filter_(call.excinfo)
    if len(shown):
        crash.path, crash.lineno = str(shown[-1].path), shown[-1].lineno + 1


def add_hub_sections(
    item: pytest.Item,
    report: pytest.TestReport,
    excinfo: pytest.ExceptionInfo[BaseException] | None = None,
) -> None:
    """Add what the app saw to the report of a test's call phase: fail a passing test that
    saw a process die unexpectedly, and give a failing one a section per death, one per call
    that timed out where its callee said it was stuck (from ``excinfo``, the test's error),
    and one per process that wrote output (in that order)."""
    handle = item.stash.get(HUB_APP_KEY, None)
    if handle is None or report.when != "call" or not handle.started:
        return
    deaths = handle.deaths()
    failed_by_death = report.passed and any(not handle.expected(c) for c in deaths)
    if failed_by_death:
        report.outcome = "failed"
    if not report.failed:
        return
    records: list[hubcore.CallRecord] = []
    pending: list[hubcore.CallRecord] = []
    failure = ""
    if deaths:
        try:
            handle.see_deaths(deaths)  # how and when each died, and its callers told of it
            records, pending = handle.calls_at_report()
        except Exception as exc:  # the report is made whatever the app does
            failure = f"\n  (the calls in flight could not be listed: {exc!r})"
        deaths = handle.deaths()
    unexpected = [c for c in deaths if not handle.expected(c)]
    said = []
    for crash in deaths:
        calls = in_flight_to(crash, records, pending)
        text = describe(crash, calls, expected=handle.expected(crash)) + failure
        if failed_by_death and crash in unexpected:
            said.append(text)  # the test's error: it failed for this
        else:
            report.sections.append((f"hub crash: {crash.label}", text))
    if said:
        report.longrepr = "\n\n".join(said)
    if excinfo is not None:
        for call, stack, blocked in _timeouts(excinfo.value):
            section = remote_stack_section(call, stack, item.config.rootpath, blocked=blocked)
            report.sections.append(section)
    for label, lines in handle.output_since_start().items():
        if lines:
            report.sections.append((f"hub output: {label}", "\n".join(lines)))


def remote_stack_section(
    call: str, remote_stack: Sequence[str], root: Path, *, blocked: bool = False
) -> tuple[str, str]:
    """The report section of a call that timed out: where its callee was stuck, first the
    line to read (the innermost frame of user code), then the whole stack, innermost last::

        kv.slow was waiting at services/kv.py:14 in slow: `await anyio.sleep(seconds)`

    :param call: the call that timed out (``"kv.slow"``).
    :param remote_stack: ``CallTimeout.remote_stack``.
    :param root: paths below it are shown relative to it (the rootdir).
    :param blocked: ``CallTimeout.remote_blocked``: a plain method held its event loop
        (``kv.slow was still running, holding its process's event loop, at ...``).
    """
    stack = [_relative(line, root) for line in remote_stack]
    kinds = [_kind(line.split(":", 1)[0]) for line in remote_stack]
    users = [line for line, kind in zip(stack, kinds, strict=True) if kind is Frame.USER]
    where = (users or stack)[-1]
    state = (
        "was still running, holding its process's event loop, at" if blocked else "was waiting at"
    )
    lines = [f"{call} {state} {where}", "", "remote stack (innermost last):"]
    lines += [f"  {line}" for line in stack]
    return f"hub remote stack: {call}", "\n".join(lines)


def _timeouts(error: BaseException) -> list[tuple[str, tuple[str, ...], bool]]:
    """The calls that timed out with a remote stack, as (call, stack, blocked): in ``error``,
    in what it came from (as Python shows a chain: ``raise ... from None`` hides the error it
    replaced, which hubcore does when it names a call's whole timeout), in the errors of a
    group, and a remote ``CallTimeout`` (a call of a chain that the test's call started)."""
    found: list[tuple[str, tuple[str, ...], bool]] = []
    seen: set[int] = set()
    todo = [error]
    while todo:
        exc = todo.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        if isinstance(exc, hubcore.CallTimeout) and exc.remote_stack:
            found.append((exc.call, exc.remote_stack, exc.remote_blocked))
        elif isinstance(exc, hubcore.RemoteError) and exc.remote_stack:
            blocked = _STILL_RUNNING in exc.message  # a remote CallTimeout keeps only its text
            found.append((_timed_out_call(exc.message), exc.remote_stack, blocked))
        if isinstance(exc, BaseExceptionGroup):
            todo.extend(exc.exceptions)
        came_from = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if came_from is not None:
            todo.append(came_from)
    return found


#: What a ``CallTimeout``'s message says of a plain method that held its loop (hubcore's text).
_STILL_RUNNING = ": it is still running, a plain method holding its process's event loop"


def _timed_out_call(message: str) -> str:
    """The call a remote ``CallTimeout``'s message names: ``page_snapshot.take`` in
    ``web.snapshot → page_snapshot.take did not answer within ...``."""
    head, said, _ = message.partition(" did not answer")
    return head.rpartition(" → ")[2] if said else "the call that timed out"


def _relative(line: str, root: Path) -> str:
    """A stack line with its path relative to ``root`` when it lies below it."""
    path, sep, rest = line.partition(":")
    try:
        return str(Path(path).relative_to(root)) + sep + rest
    except ValueError:
        return line


def hidden(kinds: Sequence[Frame]) -> list[bool]:
    """Which frames of a traceback (oldest first) to hide.

    A hubcore frame is hidden, and so is a library frame next to hubcore: one that the nearest
    non-library frame before it or after it is hubcore's (what hubcore called on the way to the
    raise, the top of a thread hubcore runs, ``contextlib`` between a ``with`` of the test and
    a context manager of hubcore).
    """
    before = _nearest_not_library(kinds)
    after = _nearest_not_library(kinds[::-1])[::-1]
    return [
        kind is Frame.HUB or (kind is Frame.LIBRARY and Frame.HUB in (prev, next_))
        for kind, prev, next_ in zip(kinds, before, after, strict=True)
    ]


def _nearest_not_library(kinds: Sequence[Frame]) -> list[Frame | None]:
    """For each frame, the kind of the nearest frame up to it (itself included) that is not a
    library's; None for library frames with none before them."""
    found: list[Frame | None] = []
    nearest: Frame | None = None
    for kind in kinds:
        if kind is not Frame.LIBRARY:
            nearest = kind
        found.append(nearest)
    return found


@functools.lru_cache(maxsize=4096)
def _kind(path: Path | str) -> Frame:
    if not os.path.isabs(path):  # "<frozen importlib._bootstrap>", "<string>": Python's own
        return Frame.LIBRARY
    real = os.path.realpath(path)
    if real.startswith(_hub_dirs()):
        return Frame.HUB
    if real.startswith(_library_dirs()) or f"{os.sep}site-packages{os.sep}" in real:
        return Frame.LIBRARY
    return Frame.USER


@functools.cache
def _hub_dirs() -> tuple[str, ...]:
    return (_as_dir(Path(hubcore.__file__).parent), _as_dir(Path(__file__).parent))


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    dirs += [*site.getsitepackages(), site.getusersitepackages()]
    return tuple(dict.fromkeys(_as_dir(d) for d in dirs))


def _as_dir(path: str | os.PathLike[str]) -> str:
    return os.path.join(os.path.realpath(path), "")
