"""``hub_app`` in an async test: the session's app, with the helpers that wait as coroutines.

The app runs in hubcore's portal thread, and a blocking call into it from an async test would
stop the test's event loop: the test's own tasks, and the hubcore client that serves its
proxies, would stand still until it returned. So each waiting helper here runs its twin of
:class:`~pytest_hub.HubApp` in a worker thread and awaits it. Both views share one app and one
record of calls; nothing here decides anything the sync view does not.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread

import hubcore
from pytest_hub._calls import AsyncCalls
from pytest_hub._handle import AppFacts, HubApp

__all__ = ("AsyncHubApp",)


class AsyncHubApp(AppFacts):
    """The procfile app booted for the tests, as an async test gets it (``hub_app``).

    The same app and call record as :class:`HubApp` in sync tests. :meth:`kill`,
    :meth:`restart`, :meth:`wait_ready` and ``calls.wait_for`` are coroutines and
    :meth:`inject` is an async context manager: the test's event loop keeps running while
    they wait. The facts (:attr:`processes`, :meth:`logs`, :meth:`config`, ...), the call
    assertions and :meth:`pause` are the same plain ones.
    """

    def __init__(self, handle: HubApp) -> None:
        self.app = handle.app
        self._handle = handle
        self.calls = AsyncCalls(handle.calls, self._fetch_calls)

    async def kill(self, process: str, instance: int = 0, *, sig: int = signal.SIGKILL) -> None:
        """Kill a process as a crash would; the supervisor restarts it. Not a test failure.

        :raises TypeError: a signal was passed as the instance (pass it as ``sig=``).
        """
        await anyio.to_thread.run_sync(
            functools.partial(self._handle.kill, process, instance, sig=sig)
        )

    async def restart(self, process: str, instance: int | None = None) -> None:
        """Stop a process gracefully, start it again, and wait until it is ready."""
        await anyio.to_thread.run_sync(self._handle.restart, process, instance)

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every process is up again and has started its services (after a kill)."""
        await anyio.to_thread.run_sync(self._handle.wait_ready, timeout)

    @asynccontextmanager
    async def inject(
        self,
        target: str,
        *,
        delay: float = 0.0,
        error: BaseException | type[BaseException] | None = None,
        crash: bool = False,
    ) -> AsyncIterator[None]:
        """Slow down, fail or crash calls of ``"object.method"`` for the ``async with`` block."""
        add = functools.partial(self._handle._add_fault, delay=delay, error=error, crash=crash)
        await anyio.to_thread.run_sync(add, target)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):  # a test cancelled in the block clears too
                await anyio.to_thread.run_sync(self._handle._clear_faults)

    async def _fetch_calls(self) -> list[hubcore.CallRecord]:
        records = await anyio.to_thread.run_sync(self._handle._drain_app_calls)
        return self._handle._merge_calls(records)
