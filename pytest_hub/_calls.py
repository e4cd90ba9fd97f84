"""The record of cross-process calls made during one test, with mock-style assertions.

Calls are recorded by their callers (every process of the app, and the test's own clients)
and pulled on demand, so a call that returned before an assertion is always in the record.

A record names the call being served when it was made (``parent``, a ``call_id``): the table
shows such a nested call indented under its parent, and ``via=`` asserts on that chain. A
parent may be missing from the record (made before the test began, or dropped by a process
that made more than 10,000 calls between two looks): such a call is shown at the top level,
marked, and ``via=`` cannot say what it was made for.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, NoReturn, overload

import anyio

import hubcore

__all__ = ("AsyncCalls", "Calls", "format_table")

POLL = 0.02  # seconds between looks: the calls happen in other processes, which push nothing


def _matches(expected: Any, actual: Any) -> bool:
    if callable(expected) and not isinstance(expected, type):
        return bool(expected(actual))
    return bool(expected == actual)


class _CallLog(Sequence[hubcore.CallRecord]):
    """The calls of the current test and the assertions over them (everything but the wait)."""

    def __init__(
        self,
        fetch: Callable[[], list[hubcore.CallRecord]],
        records: list[hubcore.CallRecord] | None = None,
    ) -> None:
        self._fetch = fetch
        self._records: list[hubcore.CallRecord] = [] if records is None else records

    def refresh(self) -> list[hubcore.CallRecord]:
        """Pull new records from every process; return all of this test's calls."""
        self._records.extend(self._fetch())
        return self._records

    @overload
    def __getitem__(self, index: int) -> hubcore.CallRecord: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[hubcore.CallRecord]: ...

    def __getitem__(self, index: int | slice) -> hubcore.CallRecord | Sequence[hubcore.CallRecord]:
        return self.refresh()[index]

    def __len__(self) -> int:
        return len(self.refresh())

    def __iter__(self) -> Iterator[hubcore.CallRecord]:
        return iter(list(self.refresh()))

    def of(self, target: str, *, via: str | None = None) -> list[hubcore.CallRecord]:
        """Calls of ``"object.method"`` (or of any method of ``"object"``); with ``via``, only
        those made while serving a call of ``via`` (directly or through further calls)."""
        return _of(self.refresh(), target, via)

    def count(self, target: str, *, via: str | None = None) -> int:
        """How many calls of ``target`` were made (``via``: as in :meth:`of`)."""
        return len(self.of(target, via=via))

    def _known_with_args(
        self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any], via: str | None = None
    ) -> list[hubcore.CallRecord]:
        """The matching calls among the records pulled so far (pulling is the caller's)."""
        return [r for r in _of(self._records, target, via) if _args_match(r, args, kwargs)]

    def assert_called(self, target: str, *, via: str | None = None) -> None:
        """At least one call of ``target`` was made (``via``: while serving a call of it)."""
        if not self.of(target, via=via):
            self._fail(f"expected a call of {_named(target, via)}, saw none", target, via)

    def assert_not_called(self, target: str, *, via: str | None = None) -> None:
        """No call of ``target`` was made (``via``: none while serving a call of it)."""
        calls = self.of(target, via=via)
        if calls:
            self._fail(f"expected no call of {_named(target, via)}, saw {len(calls)}")

    def assert_called_once(
        self, target: str, *args: Any, via: str | None = None, **kwargs: Any
    ) -> hubcore.CallRecord:
        """Exactly one call of ``target``; with arguments, it must match them (values or
        predicates such as ``lambda url: url.startswith("http")``, or ``unittest.mock.ANY``).
        With ``via``, only the calls made while serving a call of ``via`` count."""
        calls = self.of(target, via=via)
        if len(calls) != 1:
            shown = f"{_named(target, via)}{_show(args, kwargs)}"
            self._fail(f"expected one call of {shown}, saw {len(calls)}", target, via)
        if (args or kwargs) and not _args_match(calls[0], args, kwargs):
            self._fail(f"the call of {_named(target, via)} did not match {_show(args, kwargs)}")
        return calls[0]

    def assert_called_with(
        self, target: str, *args: Any, via: str | None = None, **kwargs: Any
    ) -> hubcore.CallRecord:
        """The last call of ``target`` matched these arguments (values or predicates); with
        ``via``, the last one made while serving a call of ``via``."""
        calls = self.of(target, via=via)
        if not calls or not _args_match(calls[-1], args, kwargs):
            what = "no call" if not calls else "the last call did not match"
            shown = f"{_named(target, via)}{_show(args, kwargs)}"
            self._fail(f"expected {shown}: {what}", target, via)
        return calls[-1]

    def _found(
        self,
        target: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        count: int,
        via: str | None = None,
    ) -> hubcore.CallRecord | None:
        """The last of ``count`` matching calls, if they were made (among the known records)."""
        matching = self._known_with_args(target, args, kwargs, via)
        return matching[-1] if len(matching) >= count else None

    def _not_seen(
        self,
        target: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        wanted: tuple[int, float],
        via: str | None = None,
    ) -> NoReturn:
        (count, timeout), seen = wanted, len(self._known_with_args(target, args, kwargs, via))
        shown = f"{_named(target, via)}{_show(args, kwargs)}"
        self._fail(f"waited {timeout}s for {count} call(s) of {shown}, saw {seen}", target, via)

    def table(self) -> str:
        """The calls of this test as a readable table."""
        return format_table(self.refresh())

    def _fail(self, message: str, target: str = "", via: str | None = None) -> NoReturn:
        # The table of the records just judged: pulling again could show calls the message
        # did not count (and would block an async test's event loop).
        table = format_table(self._records)
        note = _via_note(self._records, target, via) if via else ""
        raise AssertionError(f"{message}{note}\n\ncross-process calls during this test:\n{table}")


class Calls(_CallLog):
    """The cross-process calls of the current test (``hub_app.calls`` in a sync test).

    A sequence of :class:`hubcore.CallRecord` in the order the calls started, pulled from
    every process each time it is read, with mock-style assertions and a blocking
    :meth:`wait_for`.
    """

    def wait_for(
        self,
        target: str,
        *args: Any,
        count: int = 1,
        timeout: float = 5.0,
        via: str | None = None,
        **kwargs: Any,
    ) -> hubcore.CallRecord:
        """Wait (at most ``timeout`` s) until ``count`` matching calls were made, for calls that
        happen in the background (``via``: as in :meth:`of`). Returns the last matching call."""
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            found = self._found(target, args, kwargs, count, via)
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                self._not_seen(target, args, kwargs, (count, timeout), via)
            time.sleep(min(POLL, left))


class AsyncCalls(_CallLog):
    """The cross-process calls of the current test, as an async test sees them.

    The same records and assertions as :class:`Calls`; :meth:`wait_for` is a coroutine that
    lets the test's event loop run (and its tasks make calls) while it waits.
    """

    def __init__(
        self, calls: Calls, fetch_async: Callable[[], Awaitable[list[hubcore.CallRecord]]]
    ) -> None:
        super().__init__(calls._fetch, calls._records)  # one record for both views
        self._fetch_async = fetch_async

    async def wait_for(
        self,
        target: str,
        *args: Any,
        count: int = 1,
        timeout: float = 5.0,
        via: str | None = None,
        **kwargs: Any,
    ) -> hubcore.CallRecord:
        """Wait (at most ``timeout`` s) until ``count`` matching calls were made, for calls that
        happen in the background (the test's own tasks included; ``via``: as in :meth:`of`).
        Returns the last one."""
        deadline = anyio.current_time() + timeout
        while True:
            # The bound is checked between looks rather than by cancelling one, so records
            # pulled from the processes are never dropped half way.
            self._records.extend(await self._fetch_async())
            found = self._found(target, args, kwargs, count, via)
            if found is not None:
                return found
            left = deadline - anyio.current_time()
            if left <= 0:
                self._not_seen(target, args, kwargs, (count, timeout), via)
            await anyio.sleep(min(POLL, left))


def _is(record: hubcore.CallRecord, target: str) -> bool:
    """Whether ``record`` is a call of ``"object.method"`` (or of any method of ``"object"``)."""
    obj, _, method = target.partition(".")
    return record.object == obj and method in ("", record.method)


def _of(
    records: Sequence[hubcore.CallRecord], target: str, via: str | None = None
) -> list[hubcore.CallRecord]:
    found = [r for r in records if _is(r, target)]
    if via is None:
        return found
    chains = _Chains(records)
    return [r for r in found if chains.made_via(r, via)]


class _Chains:
    """Who called whom: each record's parent, found by its ``call_id`` among the records."""

    def __init__(self, records: Iterable[hubcore.CallRecord]) -> None:
        self.by_id = {r.call_id: r for r in records if r.call_id}

    def parent(self, record: hubcore.CallRecord) -> hubcore.CallRecord | None:
        """The call being served when ``record`` was made, if it is among the records."""
        return self.by_id.get(record.parent) if record.parent else None

    def made_via(self, record: hubcore.CallRecord, via: str) -> bool | None:
        """Whether ``record`` was made while serving a call of ``via``, directly or through
        further calls; None when the chain breaks (a parent not in the record) before one."""
        seen = {record.call_id}
        while record.parent:
            parent = self.by_id.get(record.parent)
            if parent is None:
                return None
            if _is(parent, via):
                return True
            if parent.call_id in seen:  # a loop: ids reused by a faulty peer
                return False
            seen.add(parent.call_id)
            record = parent
        return False


def _named(target: str, via: str | None) -> str:
    return target if via is None else f"{target} via {via}"


def _via_note(records: Sequence[hubcore.CallRecord], target: str, via: str) -> str:
    """Why calls of ``target`` did not count: made outside ``via``, or for a call the record
    does not hold (so nothing can say)."""
    chains = _Chains(records)
    verdicts = [chains.made_via(r, via) for r in records if _is(r, target)]
    outside, unknown = verdicts.count(False), verdicts.count(None)
    parts = []
    if outside:
        parts.append(f"{_calls(outside, target)} made outside {via}")
    if unknown:
        parts.append(
            f"{_calls(unknown, target)} made while serving a call that is not in the record "
            "(made before the test began, or dropped)"
        )
    return f" ({'; '.join(parts)})" if parts else ""


def _calls(n: int, target: str) -> str:
    return f"{n} call{'s' if n != 1 else ''} of {target} {'were' if n != 1 else 'was'}"


def _args_match(record: hubcore.CallRecord, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if len(args) != len(record.args) or set(kwargs) != set(record.kwargs):
        return False
    pairs = [*zip(args, record.args, strict=True)]
    pairs += [(kwargs[k], record.kwargs[k]) for k in kwargs]
    return all(_matches(expected, actual) for expected, actual in pairs)


def _show(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    if not args and not kwargs:
        return ""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"({', '.join(parts)})"


#: Marks a nested call in the table, as ``ps f`` does: ``\_ page_snapshot.take(...)``.
NESTED = "\\_ "
#: Marks a call made while serving a call that the record does not hold.
ORPHAN = "..\\_ "


def format_table(records: Sequence[hubcore.CallRecord]) -> str:
    """Calls as aligned text: caller, callee, call, outcome, duration. A call made while
    serving another of the records is indented under it; one made while serving a call the
    records lack is marked ``..\\_``."""
    if not records:
        return "  (none)"
    rows = [("caller", "callee", "call", "outcome", "ms")]
    orphans = False
    for depth, r, orphan in _nested(records):
        orphans |= orphan
        mark = ORPHAN if orphan else "   " * (depth - 1) + NESTED if depth else ""
        rows.append(
            (
                f"{r.caller}.{r.caller_instance}",
                f"{r.callee}.{r.callee_instance}",
                (mark + r.call_text(70))[:70],
                f"{r.outcome}: {r.detail}"[:50],
                f"{r.duration * 1000:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if orphans:
        lines.append(f"  ({ORPHAN.strip()}: made while serving a call that is not in the record)")
    return "\n".join(lines)


def _nested(
    records: Sequence[hubcore.CallRecord],
) -> list[tuple[int, hubcore.CallRecord, bool]]:
    """The records in the order of a tree walk: ``(depth, record, orphan)``, each call right
    after the call it was made for (its children in the order they started). An orphan is a
    call whose parent is not among the records: at depth 1, under the parent it lacks."""
    chains = _Chains(records)
    children: dict[str, list[hubcore.CallRecord]] = {}
    tops = []
    for r in records:
        parent = chains.parent(r)
        if parent is None or parent is r:
            tops.append(r)
        else:
            children.setdefault(parent.call_id, []).append(r)
    walked: list[tuple[int, hubcore.CallRecord, bool]] = []
    seen: set[int] = set()
    stack = [(1 if r.parent else 0, r, bool(r.parent)) for r in reversed(tops)]
    while stack:
        depth, r, orphan = stack.pop()
        if id(r) in seen:
            continue
        seen.add(id(r))
        walked.append((depth, r, orphan))
        stack += [(depth + 1, c, False) for c in reversed(children.get(r.call_id, []))]
    # Records in a loop of parents (a faulty peer) have no top: shown at the top level.
    walked += [(0, r, True) for r in records if id(r) not in seen]
    return walked
