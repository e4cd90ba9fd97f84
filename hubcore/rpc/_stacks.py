"""Where a served method is: the frames of a suspended coroutine's chain of awaits, or of a
thread running a plain method, innermost last.

A served coroutine method that its caller gave up on is cancelled (:mod:`hubcore.rpc._serving`).
Just before, the callee takes this stack, and the answer to the caller's CANCEL carries it, so
the caller's ``CallTimeout`` can say where the method was stuck: a coroutine suspended at an
``await`` keeps its frame (``cr_frame``) and what it awaits (``cr_await``: another coroutine, a
generator-based awaitable's ``gi_yieldfrom``, an async generator's ``ag_await``), down to a
future or a trap, which has no frame. A plain method holding its loop's thread past the
deadline cannot read the CANCEL: the watchdog's thread (:mod:`hubcore.rpc._watchdog`) takes that
thread's frames instead (:func:`thread_stack`).

The serving wrappers (this package's ``_serving`` and ``_dispatch``) are left out: they are
the same for every call.
"""

from __future__ import annotations

import linecache
import os
from collections.abc import Iterable
from types import FrameType
from typing import Any

__all__ = ("MAX_FRAMES", "coroutine_stack", "frame_line", "thread_stack")

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
    return _lines(frames[-MAX_FRAMES:])


def thread_stack(frame: FrameType) -> tuple[str, ...]:
    """The frames of a thread that runs a plain method inline, from its innermost ``frame``
    (another thread's, from ``sys._current_frames()``) out to the method, outermost first, at
    most :data:`MAX_FRAMES` (the innermost), each as :func:`frame_line` formats it. The
    serving code that called the method, and what called that, are left out."""
    frames: list[FrameType] = []
    current: FrameType | None = frame
    for _ in range(_DEPTH):
        if current is None or current.f_code.co_filename in _WRAPPERS:
            break
        frames.append(current)
        current = current.f_back
    return _lines(reversed(frames[:MAX_FRAMES]))


def frame_line(path: str, lineno: int | None, name: str) -> str:
    """``services/kv.py:14 in slow: `await anyio.sleep(seconds)```; without the code when its
    source cannot be read."""
    code = linecache.getline(path, lineno or 0).strip()
    head = f"{path}:{lineno} in {name}"
    return f"{head}: `{code}`" if code else head


def _lines(frames: Iterable[FrameType]) -> tuple[str, ...]:
    return tuple(frame_line(f.f_code.co_filename, f.f_lineno, f.f_code.co_name) for f in frames)


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
