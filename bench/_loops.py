"""Run a coroutine function on the event loop a row names: asyncio, uvloop or trio.

Servers and clients both go through :func:`run`, so "both ends on uvloop" (or trio) is one
word in the row's definition, and :func:`loop_name` lets a client report what it really ran on.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

T = TypeVar("T")

LOOPS = ("asyncio", "uvloop", "trio")


def run(fn: Callable[..., Awaitable[T]], *args: Any, loop: str) -> T:
    """Run ``fn(*args)`` to completion on ``loop`` (one of :data:`LOOPS`).

    :raises ValueError: ``loop`` is not one of :data:`LOOPS`.
    """
    if loop == "trio":
        return anyio.run(fn, *args, backend="trio")
    if loop in ("asyncio", "uvloop"):
        options = {"use_uvloop": loop == "uvloop"}
        return anyio.run(fn, *args, backend="asyncio", backend_options=options)
    raise ValueError(f"unknown event loop {loop!r}: use one of {', '.join(LOOPS)}")


def loop_name() -> str:
    """The running loop's class, e.g. ``uvloop.Loop`` or ``trio``: proof of what a row ran on."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            return "trio"
    import asyncio

    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__}.{type(loop).__qualname__}"
