"""The record of cross-process calls made during one test, with mock-style assertions.

Calls are recorded by their callers (every process of the app, and the test's own clients)
and pulled on demand, so a call that returned before an assertion is always in the record.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, NoReturn, overload

import anyio

import hubcore

__all__ = ("AsyncCalls", "Calls")

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

    def of(self, target: str) -> list[hubcore.CallRecord]:
        """Calls of ``"object.method"`` (or of any method of ``"object"``)."""
        return _of(self.refresh(), target)

    def count(self, target: str) -> int:
        """How many calls of ``target`` were made."""
        return len(self.of(target))

    def _known_with_args(
        self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[hubcore.CallRecord]:
        """The matching calls among the records pulled so far (pulling is the caller's)."""
        return [r for r in _of(self._records, target) if _args_match(r, args, kwargs)]

    def assert_called(self, target: str) -> None:
        """At least one call of ``target`` was made."""
        if not self.of(target):
            self._fail(f"expected a call of {target}, saw none")

    def assert_not_called(self, target: str) -> None:
        """No call of ``target`` was made."""
        calls = self.of(target)
        if calls:
            self._fail(f"expected no call of {target}, saw {len(calls)}")

    def assert_called_once(self, target: str, *args: Any, **kwargs: Any) -> hubcore.CallRecord:
        """Exactly one call of ``target``; with arguments, it must match them (values or
        predicates such as ``lambda url: url.startswith("http")``, or ``unittest.mock.ANY``)."""
        calls = self.of(target)
        if len(calls) != 1:
            self._fail(f"expected one call of {target}{_show(args, kwargs)}, saw {len(calls)}")
        if (args or kwargs) and not _args_match(calls[0], args, kwargs):
            self._fail(f"the call of {target} did not match {_show(args, kwargs)}")
        return calls[0]

    def assert_called_with(self, target: str, *args: Any, **kwargs: Any) -> hubcore.CallRecord:
        """The last call of ``target`` matched these arguments (values or predicates)."""
        calls = self.of(target)
        if not calls or not _args_match(calls[-1], args, kwargs):
            what = "no call" if not calls else "the last call did not match"
            self._fail(f"expected {target}{_show(args, kwargs)}: {what}")
        return calls[-1]

    def _found(
        self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any], count: int
    ) -> hubcore.CallRecord | None:
        """The last of ``count`` matching calls, if they were made (among the known records)."""
        matching = self._known_with_args(target, args, kwargs)
        return matching[-1] if len(matching) >= count else None

    def _not_seen(
        self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any], count: int, timeout: float
    ) -> NoReturn:
        seen = len(self._known_with_args(target, args, kwargs))
        self._fail(
            f"waited {timeout}s for {count} call(s) of {target}{_show(args, kwargs)}, saw {seen}"
        )

    def table(self) -> str:
        """The calls of this test as a readable table."""
        return format_table(self.refresh())

    def _fail(self, message: str) -> NoReturn:
        # The table of the records just judged: pulling again could show calls the message
        # did not count (and would block an async test's event loop).
        table = format_table(self._records)
        raise AssertionError(f"{message}\n\ncross-process calls during this test:\n{table}")


class Calls(_CallLog):
    """The cross-process calls of the current test (``hub_app.calls`` in a sync test).

    A sequence of :class:`hubcore.CallRecord` in the order the calls started, pulled from
    every process each time it is read, with mock-style assertions and a blocking
    :meth:`wait_for`.
    """

    def wait_for(
        self, target: str, *args: Any, count: int = 1, timeout: float = 5.0, **kwargs: Any
    ) -> hubcore.CallRecord:
        """Wait (at most ``timeout`` s) until ``count`` matching calls were made, for calls that
        happen in the background. Returns the last matching call."""
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            found = self._found(target, args, kwargs, count)
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                self._not_seen(target, args, kwargs, count, timeout)
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
        self, target: str, *args: Any, count: int = 1, timeout: float = 5.0, **kwargs: Any
    ) -> hubcore.CallRecord:
        """Wait (at most ``timeout`` s) until ``count`` matching calls were made, for calls that
        happen in the background (the test's own tasks included). Returns the last one."""
        deadline = anyio.current_time() + timeout
        while True:
            # The bound is checked between looks rather than by cancelling one, so records
            # pulled from the processes are never dropped half way.
            self._records.extend(await self._fetch_async())
            found = self._found(target, args, kwargs, count)
            if found is not None:
                return found
            left = deadline - anyio.current_time()
            if left <= 0:
                self._not_seen(target, args, kwargs, count, timeout)
            await anyio.sleep(min(POLL, left))


def _of(records: list[hubcore.CallRecord], target: str) -> list[hubcore.CallRecord]:
    obj, _, method = target.partition(".")
    return [r for r in records if r.object == obj and method in ("", r.method)]


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


def format_table(records: Sequence[hubcore.CallRecord]) -> str:
    """Calls as aligned text: caller, callee, call, outcome, duration."""
    if not records:
        return "  (none)"
    rows = [("caller", "callee", "call", "outcome", "ms")]
    for r in records:
        call = f"{r.object}.{r.method}{_show(r.args, r.kwargs) or '()'}"
        rows.append(
            (
                f"{r.caller}.{r.caller_instance}",
                f"{r.callee}.{r.callee_instance}",
                call[:70],
                f"{r.outcome}: {r.detail}"[:50],
                f"{r.duration * 1000:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )
