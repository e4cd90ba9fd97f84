"""Where a suspended coroutine waits: the frames of the chain of awaits, innermost last.

A served coroutine method that its caller gave up on is cancelled (:mod:`hubcore.rpc._serving`).
Just before, the callee takes this stack, and the answer to the caller's CANCEL carries it, so
the caller's ``CallTimeout`` can say where the method was stuck: a coroutine suspended at an
``await`` keeps its frame (``cr_frame``) and what it awaits (``cr_await``: another coroutine, a
generator-based awaitable's ``gi_yieldfrom``, an async generator's ``ag_await``), down to a
future or a trap, which has no frame.

The serving wrappers (this package's ``_serving`` and ``_dispatch``) are left out: they are
the same for every call.
"""

from __future__ import annotations

import linecache
import os
from types import FrameType
from typing import Any

__all__ = ("MAX_FRAMES", "coroutine_stack", "frame_line")

#: The innermost frames kept.
MAX_FRAMES = 20

_HERE = os.path.dirname(os.path.abspath(__file__))
_WRAPPERS = frozenset(os.path.join(_HERE, f"{name}.py") for name in ("_serving", "_dispatch"))
_DEPTH = 200  # a bound on the walk, whatever awaits what


def coroutine_stack(coro: Any) -> tuple[str, ...]:
    """The frames ``coro`` is suspended in, outermost first, at most :data:`MAX_FRAMES` (the
    innermost), each as :func:`frame_line` formats it; empty if it is not suspended."""
    frames: list[FrameType] = []
    for _ in range(_DEPTH):
        frame = _frame_of(coro)
        if frame is None:
            break
        if frame.f_code.co_filename not in _WRAPPERS:
            frames.append(frame)
        coro = _awaited(coro)
    return tuple(frame_line(f.f_code.co_filename, f.f_lineno, f.f_code.co_name) for f in frames)[
        -MAX_FRAMES:
    ]


def frame_line(path: str, lineno: int | None, name: str) -> str:
    """``services/kv.py:14 in slow: `await anyio.sleep(seconds)```; without the code when its
    source cannot be read."""
    code = linecache.getline(path, lineno or 0).strip()
    head = f"{path}:{lineno} in {name}"
    return f"{head}: `{code}`" if code else head


def _frame_of(obj: Any) -> FrameType | None:
    for attr in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(obj, attr, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _awaited(obj: Any) -> Any:
    for attr in ("cr_await", "gi_yieldfrom", "ag_await"):
        inner = getattr(obj, attr, None)
        if inner is not None:
            return inner
    return None
