"""The portal thread of ``hubcore.sync``: one event loop, in a thread of its own, that runs the
async twins of the blocking operations (``anyio.from_thread``). Started on first use, stopped
at exit after the hooks registered with :func:`before_stop` (the default client says goodbye
through it)."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from hubcore.rpc._chain import SERVING

__all__ = ("before_stop", "call_kw", "in_portal_thread", "lock", "portal", "run")

lock = threading.RLock()  # the default client's maker holds it while connect() asks for the portal
_portal: BlockingPortal | None = None
_portal_cm: AbstractContextManager[BlockingPortal] | None = None
_portal_thread: int | None = None  # its ident
_before_stop: list[Callable[[], None]] = []


def portal() -> BlockingPortal:
    """The shared portal thread, started on first use and stopped at exit."""
    global _portal, _portal_cm, _portal_thread
    with lock:
        if _portal is None:
            _portal_cm = start_blocking_portal(backend="asyncio")
            _portal = _portal_cm.__enter__()
            _portal_thread = _portal.call(threading.get_ident)
            atexit.register(_stop)
        return _portal


def before_stop(hook: Callable[[], None]) -> None:
    """Run ``hook`` at exit, before the portal stops (while it still runs calls)."""
    _before_stop.append(hook)


def _stop() -> None:
    global _portal, _portal_cm
    for hook in _before_stop:
        hook()
    if _portal_cm is not None:
        _portal_cm.__exit__(None, None, None)
    _portal = _portal_cm = None


def in_portal_thread() -> bool:
    """Whether this is the portal's thread (a blocking call here would block its loop)."""
    return threading.get_ident() == _portal_thread


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``fn()`` in the portal thread's event loop and return its result."""
    return portal().call(fn)


def call_kw(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``await fn(*args, **kwargs)`` in the portal, in the call this thread serves (a
    blocking call from a served method keeps its chain's deadline)."""
    served = SERVING.get()  # the portal's task does not inherit this thread's context

    async def task() -> Any:
        if served is not None:
            SERVING.set(served)  # in the task's own context: gone with it
        return await fn(*args, **kwargs)

    return portal().call(task)
